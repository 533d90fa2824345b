"""Launch the real chat server (``alliance-qa serve``) as a subprocess on a free loopback port.

Reusable by any test (web, browser, load)::

    from serverutil import running_server

    with running_server(corpus_dir, index_dir) as server:
        client = server.client()
        reply, sources = client.predict("Which ports matter for trade?", api_name="/chat")

The server is ready when ``GET /config`` answers (it warms up the model and the
index before it listens, so the first question is fast).  Every wait is bounded;
a server that dies or never comes up raises with the tail of its log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class ServerProcess:
    """A running ``alliance-qa serve`` subprocess."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    corpus_dir: Path
    index_dir: Path
    auth: tuple[str, str] | None = None
    started_s: float = field(default=0.0)

    def log_text(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
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


def _status(url: str) -> int | None:
    """HTTP status of ``GET url``, or ``None`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def start_server(
    corpus_dir: Path,
    index_dir: Path,
    *,
    auth: str | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT_S,
    extra_args: tuple[str, ...] = (),
) -> ServerProcess:
    """Start ``alliance-qa serve`` on a free loopback port and wait until ``/config`` answers.

    ``auth`` ("user:pass") is passed through ``ALLIANCE_QA_AUTH``; ``env`` adds variables.
    Raises ``RuntimeError`` with the log tail when the server exits or does not come up in ``timeout`` s.
    """
    log_path = log_path or index_dir.parent / f"server-{os.getpid()}-{time.monotonic_ns()}.log"
    last_error = ""
    for _attempt in range(3):  # a port taken between free_port() and bind(): try another one
        port = free_port()
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_QA_", "GRADIO_"))}
        child_env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        if auth is not None:
            child_env["ALLIANCE_QA_AUTH"] = auth
        child_env.update(env or {})
        command = [
            sys.executable, "-m", "alliance_qa.cli", "-v",
            "--corpus", str(corpus_dir), "--index", str(index_dir),
            "serve", "--host", HOST, "--port", str(port), *extra_args,
        ]  # fmt: skip
        started = time.monotonic()
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=child_env, cwd=REPO)
        login = (auth.partition(":")[0], auth.partition(":")[2]) if auth else None
        server = ServerProcess(f"http://{HOST}:{port}/", port, proc, log_path, corpus_dir, index_dir, login)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            status = _status(server.url + "config")
            if status == 200 or (auth is not None and status in (401, 403)):
                server.started_s = time.monotonic() - started
                return server
            time.sleep(0.25)
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
