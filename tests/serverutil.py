"""The real chat server for tests: in this process (fast, shares the session's model) or as a subprocess.

Reusable by any test (web, browser, load)::

    from serverutil import serving, running_server

    with serving(assistant) as server:            # web.launch() in this process, on a free loopback port
        reply, sources = server.ask("Which ports matter for trade?")

    with running_server(corpus_dir, index_dir) as server:   # `alliance-qa serve`, for a test that kills it,
        ...                                                 # reads its RSS or needs the CLI's defaults

A subprocess is ready when it prints its "chat running at" line, which the CLI writes only once
the server listens; tests wait for that line, never for the HTTP port.  By default the subprocess
uses the fake embedder (``fakeembed``, no torch): start it with ``real_model=True`` when its
answers must come from the real model.  Every wait is bounded; a server that dies or never comes
up raises with the tail of its log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
ARTICLE = REPO / "corpus" / "10-things-north-korea-and-russia-want.txt"
HOST = "127.0.0.1"
#: Seconds to wait for /config: imports (~10 s), model load and, with no index, a build.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0

#: Payloads that must never run in the browser, placed in a corpus file by :func:`write_probe_corpus`.
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(2)</script>"
PROBE_QUESTION = "What happened at the Zorvan probe harbour?"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def copy_article(corpus_dir: Path) -> Path:
    """Create ``corpus_dir`` holding a copy of the article; return it."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, corpus_dir / ARTICLE.name)
    return corpus_dir


def write_probe_corpus(corpus_dir: Path) -> Path:
    """The article plus a Markdown file whose title and text carry HTML/script/template payloads.

    :data:`PROBE_QUESTION` retrieves its section (number 11).
    """
    copy_article(corpus_dir)
    (corpus_dir / "zz-probe.md").write_text(
        f"## 11. Zorvan Probe Harbour {XSS_IMG}\n\n"
        f"The Zorvan probe harbour is a test section {XSS_IMG} about a harbour called Zorvan. "
        f"Something happened at the Zorvan probe harbour {XSS_SCRIPT} last year. "
        "Template probes ${alert(3)} and {{constructor.constructor('alert(4)')()}} sit at the Zorvan harbour. "
        '<a href="javascript:alert(5)">Zorvan link</a> and **bold** [md](javascript:alert(6)) at Zorvan.\n',
        encoding="utf-8",
    )
    return corpus_dir


def wait_for_line(log_text: Any, line: str, timeout: float, *, alive: Any = None) -> None:
    """Wait until ``line`` appears in ``log_text()``."""
    wait_for(lambda: line in log_text(), timeout, repr(line), alive=alive)


@dataclass(kw_only=True)
class Server:
    """A running chat server: its URL, folders, login and log."""

    url: str
    port: int
    log_path: Path
    corpus_dir: Path
    index_dir: Path
    auth: tuple[str, str] | None = None

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kwargs: Any) -> Any:
        """A new gradio_client session (its own chat history) against this server."""
        from gradio_client import Client

        if self.auth is not None:
            kwargs.setdefault("auth", self.auth)
        return Client(self.url, verbose=False, **kwargs)

    def ask(self, question: str) -> tuple[str, str]:
        """Ask one question in a fresh session: ``(reply Markdown, sources HTML)``."""
        reply, sources = self.client().predict(question, api_name="/chat")
        return reply, sources

    def alive(self) -> bool:
        """Whether the server still runs."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        raise NotImplementedError


@dataclass(kw_only=True)
class ServerProcess(Server):
    """A running ``alliance-qa serve`` subprocess; its log is its stdout and stderr."""

    proc: subprocess.Popen[bytes]
    started_s: float = 0.0

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ctrl-C the server, then kill it if it has not exited within :data:`STOP_TIMEOUT_S`."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)


@dataclass(kw_only=True)
class InProcessServer(Server):
    """The chat served by ``web.launch`` in this process.

    Its log is what the :data:`SERVER_LOGGERS` write while it runs (INFO and up), in ``log_path``.
    """

    demo: Any

    def alive(self) -> bool:
        """Whether the server still runs."""
        return bool(self.demo.is_running)

    def stop(self) -> None:
        """Close the server (idempotent)."""
        self.demo.close()


def running_line(port: int, auth: object) -> str:
    """The line ``alliance-qa serve`` prints once it listens on ``port``."""
    return f"chat running at http://{HOST}:{port}/" + ("  (login required)" if auth else "")


def start_server(
    corpus_dir: Path,
    index_dir: Path,
    *,
    auth: str | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT_S,
    extra_args: tuple[str, ...] = (),
    real_model: bool = False,
    host: str | None = HOST,
) -> ServerProcess:
    """Start ``alliance-qa -v serve`` on a free loopback port; return once it printed its "chat running at" line.

    ``auth`` ("user:pass") is passed through ``ALLIANCE_QA_AUTH``; ``env`` adds variables.  The server
    embeds with the fake embedder (its index must be built with it) unless ``real_model``.
    ``host=None`` passes no ``--host`` (the CLI's default).
    Raises ``RuntimeError`` with the log tail when the server exits or does not come up in ``timeout`` s.
    """
    from fakeembed import CHILD_CLI, NAME

    log_path = log_path or index_dir.parent / f"server-{os.getpid()}-{time.monotonic_ns()}.log"
    last_error = ""
    for _attempt in range(3):  # a port taken between free_port() and bind(): try another one
        port = free_port()
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_QA_", "GRADIO_"))}
        child_env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        if not real_model:
            child_env["ALLIANCE_QA_MODEL"] = NAME
        if auth is not None:
            child_env["ALLIANCE_QA_AUTH"] = auth
        child_env.update(env or {})
        program = ["-m", "alliance_qa.cli"] if real_model else ["-c", CHILD_CLI]
        command = [
            sys.executable, *program, "-v",
            "--corpus", str(corpus_dir), "--index", str(index_dir),
            "serve", *(("--host", host) if host else ()), "--port", str(port), *extra_args,
        ]  # fmt: skip
        started = time.monotonic()
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=child_env, cwd=REPO)
        login = (auth.partition(":")[0], auth.partition(":")[2]) if auth else None
        server = ServerProcess(url=f"http://{HOST}:{port}/", port=port, proc=proc, log_path=log_path,
                               corpus_dir=corpus_dir, index_dir=index_dir, auth=login)
        try:
            wait_for_line(server.log_text, running_line(port, auth), timeout, alive=server.alive)
            server.started_s = time.monotonic() - started
            return server
        except AssertionError:
            server.stop()
            last_error = server.log_text()[-3000:]
            if "cannot listen on" not in last_error:
                break
    raise RuntimeError(
        f"alliance-qa serve did not come up on {HOST} within {timeout:.0f} s (log {log_path}):\n{last_error}"
    )


@contextmanager
def running_server(corpus_dir: Path, index_dir: Path, **kwargs: Any) -> Iterator[ServerProcess]:
    """:func:`start_server`, stopped again when the block ends."""
    server = start_server(corpus_dir, index_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


#: Loggers whose records (INFO and up) make an in-process server's log.
SERVER_LOGGERS = ("alliance_qa.web", "alliance_qa.guard")


@contextmanager
def serving(
    assistant: Any,
    *,
    auth: tuple[str, str] | None = None,
    feedback_dir: Path | None = None,
    log_path: Path | None = None,
) -> Iterator[InProcessServer]:
    """Serve ``assistant`` with ``web.launch`` in this process on a free loopback port, closed when the block ends.

    Ready when this returns (``launch`` returns once the server listens).  The assistant stops
    auto-building (as in ``alliance-qa serve``): give each server its own.
    """
    import logging
    import tempfile

    from alliance_qa import web
    from alliance_qa.errors import AllianceQAError

    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="aqa-server-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        for attempt in range(3):  # a port taken between free_port() and bind(): try another one
            port = free_port()
            try:
                demo, url = web.launch(assistant, HOST, port, auth, feedback_dir=feedback_dir)
                break
            except AllianceQAError as exc:
                if "cannot listen on" not in str(exc) or attempt == 2:
                    raise
        corpus_dir, index_dir = assistant.settings.corpus_dir, assistant.settings.index_dir
        server = InProcessServer(url=url, port=port, demo=demo, log_path=log_path, corpus_dir=corpus_dir,
                                 index_dir=index_dir, auth=auth)
        try:
            yield server
        finally:
            server.stop()
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
