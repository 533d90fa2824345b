"""What one client can make the server hold or do: bounded request bodies and chat history, no uploads,
throttled logins, idle connections closed, a temp folder of the server's own.

The web chat calls :func:`protect` once, just before ``demo.launch``; nothing here runs for
the Python API or the CLI (their bounds are in :mod:`.limits`).

* :class:`GuardMiddleware` (ASGI, innermost to Gradio's own middleware): a request body
  over :data:`MAX_BODY_BYTES` gets ``413`` before it is read (by its ``Content-Length``) or as
  soon as it passes the limit (chunked); ``/gradio_api/upload`` gets ``403`` (the chat takes
  no files); ``POST /login`` gets ``429`` after :data:`LOGIN_FAILURES` failures for one user name
  (or :data:`LOGIN_FAILURES_PER_ADDRESS` in all) from one address within :data:`LOGIN_WINDOW_S` seconds.
* The chat history Gradio keeps per session: a question over ``MAX_QUESTION_CHARS`` (which
  is refused) is stored as a one-line stand-in, any message over :data:`MAX_STORED_CHARS` is
  cut, and only the last :data:`MAX_HISTORY_MESSAGES` messages are kept (see :mod:`.limits`); at most
  :data:`MAX_SESSIONS` sessions are kept.
* A connection that sends nothing is closed after :data:`IDLE_TIMEOUT_S` seconds (uvicorn
  already closes keep-alive connections idle after a response, after 5 s).
* Gradio's temp folder (``GRADIO_TEMP_DIR``) is a fresh private folder, deleted at shutdown.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .limits import bounded_history, stored_message

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body accepted (a chat turn carries the conversation so far: ~2 KB a turn).
MAX_BODY_BYTES = int(os.environ.get("ALLIANCE_QA_MAX_BODY_BYTES", str(1024 * 1024)))
#: Failed logins for one user name from one address (and from one address in all) within
#: :data:`LOGIN_WINDOW_S` seconds before further attempts get 429.
LOGIN_FAILURES = 5
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW_S = 60.0
#: Seconds a new connection may stay silent before it is closed.
IDLE_TIMEOUT_S = float(os.environ.get("ALLIANCE_QA_IDLE_TIMEOUT", "10"))
#: Chat sessions whose state the server keeps (Gradio's default is 10,000); the least recent go first.
MAX_SESSIONS = 1000


# ----------------------------------------------------------------------------- ASGI middleware


class LoginThrottle:
    """Counts failed logins per key (an address, or an address and a user name) in a sliding window."""

    def __init__(self, window: float = LOGIN_WINDOW_S) -> None:
        self.window = window
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._seen.get(key) or collections.deque()
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def count(self, key: str) -> int:
        """Failed logins under ``key`` within the window."""
        with self._lock:
            return len(self._recent(key, time.monotonic()))

    def failed(self, *keys: str) -> None:
        """Record one failed login under each of ``keys``."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                if key not in self._seen and len(self._seen) >= 10_000:  # bounded: forget the oldest key
                    self._seen.pop(next(iter(self._seen)))
                times = self._seen[key] = self._recent(key, now)
                times.append(now)


async def _plain(send: Send, status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


def _login_user(body: bytes) -> str:
    """The user name in a login form body (bounded by the body limit), or ``""``."""
    from urllib.parse import parse_qs

    try:
        values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10).get("username", [""])
    except ValueError:
        return ""
    return values[0].strip()[:200]


class GuardMiddleware:
    """ASGI middleware: body cap, no uploads, login throttling, temp folder removed at shutdown."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, temp_dir: str | None = None) -> None:
        self.app, self.max_body, self.temp_dir = app, max_body, temp_dir
        self.logins = LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/")
        if path.endswith("/upload"):
            await _plain(send, 403, "uploads are disabled: this chat takes no files")
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit():
            await _plain(send, 400, "bad Content-Length")
            return
        if int(length) > self.max_body:
            await _plain(send, 413, f"request body over the {self.max_body:,}-byte limit")
            return
        body, more = b"", True
        while more:  # read it here, bounded, so a chunked body cannot grow past the limit either
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _plain(send, 413, f"request body over the {self.max_body:,}-byte limit")
                return
        client = str((scope.get("client") or ("?", 0))[0])
        login = path.endswith("/login") and scope.get("method") == "POST"
        keys = (client, f"{client} {_login_user(body)}")
        if login and (self.logins.count(keys[0]) >= LOGIN_FAILURES_PER_ADDRESS or self.logins.count(keys[1]) >= LOGIN_FAILURES):
            await _plain(send, 429, f"too many failed logins: wait {LOGIN_WINDOW_S:.0f} s", [(b"retry-after", b"60")])
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            if login and message["type"] == "http.response.start" and message["status"] >= 400:
                self.logins.failed(*keys)
            await send(message)

        await self.app(scope, replay, watch)

    def _on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                remove_temp_dir(self.temp_dir)
            return message

        return wrapped


# ----------------------------------------------------------------------------- exposure


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth: object) -> str | None:
    """The warning ``serve`` prints when the chat listens beyond loopback without a login; else ``None``."""
    if is_loopback(host) or auth:
        return None
    return (
        f"--host {host} makes the chat reachable from other machines, and there is no login: anyone who can "
        "reach this port can use it. Add --auth USER:PASS (or ALLIANCE_QA_AUTH), or use --host 127.0.0.1"
    )


def network_url(host: str, port: int) -> str | None:
    """A URL other machines can use when ``host`` is a wildcard address (0.0.0.0, ::); else ``None``."""
    import socket

    if host not in ("0.0.0.0", "::", ""):
        return None
    address = None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
    except OSError:
        pass
    if not address or address.startswith("127."):
        address = socket.gethostname()
    return f"http://{address}:{port}/"


# ----------------------------------------------------------------------------- the server


def remove_temp_dir(path: str | None) -> None:
    """Delete the server's own temp folder (uploads are refused; Gradio may still cache files there)."""
    if path:
        shutil.rmtree(path, ignore_errors=True)


def _idle_timeout_protocol() -> type:
    """uvicorn's h11 protocol, closing a connection that sends nothing for :data:`IDLE_TIMEOUT_S` seconds."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class IdleTimeoutH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(IDLE_TIMEOUT_S, self.timeout_keep_alive_handler)

    return IdleTimeoutH11Protocol


def _bound_chat_history(demo: Any) -> int:
    """Make every ``ChatInterface`` in ``demo`` store bounded history; return how many there were."""
    import gradio as gr

    # A ChatInterface rendered inside Blocks is not one of its blocks, but its events call its own methods.
    owners = [getattr(getattr(fn, "fn", None), "__self__", None) for fn in getattr(demo, "fns", {}).values()]
    chats = {id(o): o for o in [demo, *owners] if isinstance(o, gr.ChatInterface)}
    found = 0
    for block in chats.values():
        original = block._append_message_to_history

        def append(message: Any, history: list[Any], role: str = "user", _original: Any = original) -> Any:
            stored = stored_message(message) if role == "user" else message
            return bounded_history(_original(stored, bounded_history(list(history)), role))

        block._append_message_to_history = append  # type: ignore[method-assign]
        found += 1
    return found


def protect(demo: Any) -> dict[str, Any]:
    """Apply the server limits to the Gradio app ``demo``; return the extra ``demo.launch`` keyword arguments.

    Call once, just before ``demo.launch(..., **guard.protect(demo))``.
    """
    import uvicorn.config

    temp_dir = tempfile.mkdtemp(prefix="alliance-qa-gradio-")
    os.environ["GRADIO_TEMP_DIR"] = temp_dir  # read when the app is created inside launch()
    atexit.register(remove_temp_dir, temp_dir)
    globals()["IdleTimeoutH11Protocol"] = _idle_timeout_protocol()  # uvicorn imports it by name
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:IdleTimeoutH11Protocol"
    chats = _bound_chat_history(demo)
    log.info("server limits: bodies up to %d bytes, no uploads, %d chat histories bounded, temp folder %s",
             MAX_BODY_BYTES, chats, temp_dir)
    from starlette.middleware import Middleware

    return {
        "app_kwargs": {"middleware": [Middleware(GuardMiddleware, max_body=MAX_BODY_BYTES, temp_dir=temp_dir)]},
        "max_file_size": 4096,
        "state_session_capacity": MAX_SESSIONS,
    }
