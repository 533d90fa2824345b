"""The login page (``serve --auth``): Gradio serves it without the app's title or script.

:class:`LoginPage` is ASGI middleware that adds, to the HTML of ``/`` when it is the login
page only, a ``<title>`` and ``static/login.js`` (focus on the user name, autocomplete hints,
the user name kept after a failed try).  Pass it to ``launch(app_kwargs={"middleware": [...]})``
through :func:`middleware`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

LOGIN_JS = Path(__file__).with_name("static") / "login.js"
#: How the page config marks the login page.
_LOGIN_MARK = re.compile(rb'"auth_required":\s*true')


class LoginPage:
    """Adds a title and the login script to Gradio's login page."""

    def __init__(self, app: ASGIApp, title: str) -> None:
        """Wrap ``app``; ``title`` names the page (escaped here)."""
        self.app = app
        script = LOGIN_JS.read_text(encoding="utf-8")
        self.extra = f"<title>Log in: {html.escape(title)}</title><script>{script}</script>".encode()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        """Pass everything through; buffer and rewrite only ``GET /`` HTML."""
        if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("path") not in ("/", ""):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if _LOGIN_MARK.search(body) and b"<head>" in body:
                body = body.replace(b"<head>", b"<head>" + self.extra, 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, wrapped)


def middleware(title: str) -> Any:
    """The Starlette ``Middleware`` entry for ``app_kwargs["middleware"]``."""
    from starlette.middleware import Middleware

    return Middleware(LoginPage, title=title)
