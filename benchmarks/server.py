"""Server throughput: ``alliance-qa serve`` against Gradio's own echo ceiling, in the same run, interleaved.

Both servers run at once on loopback (the one idle while the other is measured). For each number of
concurrent sessions, rounds alternate which server goes first; every question is
distinct in the whole run (the server caches question vectors). The echo is a ChatInterface that only
echoes, with the same queue settings as :mod:`alliance_qa.web` (concurrency, queue size, Gradio's event
analytics off): what Gradio and gradio_client cost here,
so the ratio product / echo is what carries over between machines and loads.

The sessions are light by default (``client="rest"``): coroutines on one thread, each doing what
``curl`` does with Gradio's REST API (``POST /gradio_api/call/chat`` with its session hash, then read the
event stream).
``client="gradio"`` uses one ``gradio_client.Client`` per session instead (a thread each plus a heartbeat
thread); at 32 sessions those threads cost this process about as much CPU as the server's answers, and
the measured q/s is then the client's ceiling on a 2-core machine rather than the server's.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cold import Server, _ask_once, _client, server
from .measure import median, summary

#: The transport floor: a Gradio ChatInterface that echoes, queued like :mod:`alliance_qa.web`.
ECHO_SERVER = (
    "import os, sys; os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False'); import gradio as gr; "
    "from alliance_qa import web; "
    "[os.environ.setdefault(k, v) for k, v in web.GRADIO_QUEUE_ENV.items()]; "
    "demo = gr.ChatInterface(lambda message, history: 'echo: ' + message, api_name='chat'); "
    "demo.queue(default_concurrency_limit=web.CONCURRENCY_LIMIT, max_size=web.QUEUE_MAX_SIZE); "
    "demo.launch(server_name='127.0.0.1', server_port=int(sys.argv[1]), quiet=True)"
)
#: Goal of issue 13: at 32 clients the product answers at least this share of the echo's questions per second.
GOAL_RATIO = 0.9


def questions_per_level(clients: int) -> int:
    """Questions asked in one round at ``clients`` sessions (enough for each to ask several)."""
    return max(30, 4 * clients)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by process ``pid``, or by this process and its threads."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Which load client :func:`load_level` uses: ``"rest"`` (light, the default) or ``"gradio"`` (gradio_client).
CLIENTS = ("rest", "gradio")


async def _rest_sessions(url: str, batch: Sequence[str], clients: int) -> tuple[list[float], list[str]]:
    """``clients`` coroutines taking questions from ``batch`` in turn, each through Gradio's REST API."""
    import httpx

    todo = iter(batch)
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=2 * clients, max_keepalive_connections=2 * clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:

        async def session() -> None:
            # One session hash per session, as one browser tab or one gradio_client keeps: each new hash makes
            # Gradio set up a session state (about 35 block configs here), which a user pays once, not per question.
            session_hash = uuid.uuid4().hex[:12]
            for question in todo:  # one thread: the shared iterator needs no lock
                t0 = time.perf_counter()
                try:
                    body = {"data": [question, []], "session_hash": session_hash}
                    posted = await http.post("/gradio_api/call/chat", json=body)
                    posted.raise_for_status()
                    event, kind = posted.json()["event_id"], ""
                    async with http.stream("GET", f"/gradio_api/call/chat/{event}") as stream:
                        async for line in stream.aiter_lines():
                            if line.startswith("event:"):
                                kind = line.removeprefix("event:").strip()
                            elif line.startswith("data:") and kind in ("complete", "error"):
                                break
                    if kind != "complete":
                        raise RuntimeError(f"the event stream ended with {kind or 'nothing'!r}")
                except Exception as exc:  # counted, not fatal: a benchmark reports errors
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(session() for _ in range(clients)))
    return latencies, errors


def load_level(
    url: str, batch: Sequence[str], clients: int, pid: int | None = None, *, client: str = "rest"
) -> dict[str, Any]:
    """Ask every question of ``batch`` once, from ``clients`` concurrent sessions; latencies and q/s.

    With the server's ``pid``, also the CPU milliseconds per answered question of the server and of
    this process (the clients), which other work on the machine does not inflate as much as wall time.
    ``client`` chooses the sessions (see :data:`CLIENTS` and the module docstring).
    """
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {', '.join(CLIENTS)}, got {client!r}")
    if client == "rest":
        started = time.perf_counter()
        cpu_before = (cpu_seconds(pid), cpu_seconds()) if pid is not None else None
        answered, failed = asyncio.run(_rest_sessions(url, batch, clients))
        return _level(answered, failed, time.perf_counter() - started, pid, cpu_before)
    sessions = [_client(url) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    todo = iter(batch)
    gate = threading.Barrier(clients + 1)

    def work_loop(session: Any) -> None:
        gate.wait()
        while True:
            with lock:
                question = next(todo, None)
            if question is None:
                return
            t0 = time.perf_counter()
            try:
                session.predict(question, api_name="/chat")
            except Exception as exc:  # counted, not fatal: a benchmark reports errors
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work_loop, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    cpu_before = (cpu_seconds(pid), cpu_seconds()) if pid is not None else None
    for thread in threads:
        thread.join(600)
    result = _level(latencies, errors, time.perf_counter() - started, pid, cpu_before)
    for session in sessions:  # each session streams a heartbeat in a thread of its own until closed
        session.close()
    return result


def _level(
    latencies: list[float], errors: list[str], wall: float, pid: int | None, cpu_before: tuple[float, float] | None
) -> dict[str, Any]:
    cpu: dict[str, float] = {}
    if pid is not None and cpu_before is not None and latencies:
        cpu = {
            "server_cpu_ms_per_q": round(1000 * (cpu_seconds(pid) - cpu_before[0]) / len(latencies), 2),
            "client_cpu_ms_per_q": round(1000 * (cpu_seconds() - cpu_before[1]) / len(latencies), 2),
        }
    return {
        "answered": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:3],
        "wall_s": round(wall, 2),
        "questions_per_s": round(len(latencies) / wall, 2) if wall else None,
        "latencies_s": [round(x, 4) for x in latencies],
        **cpu,
    }


def _row(clients: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One level's figures over its rounds: median q/s, and p50/p95 over every latency of every round."""
    latencies = [x for run in runs for x in run.pop("latencies_s")]
    return {
        "clients": clients,
        "questions": sum(questions_per_level(clients) for _ in runs),
        "answered": sum(r["answered"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "error_sample": [e for r in runs for e in r["error_sample"]][:3],
        "questions_per_s": median([r["questions_per_s"] for r in runs if r["questions_per_s"] is not None]),
        "rounds_questions_per_s": [r["questions_per_s"] for r in runs],
        "server_cpu_ms_per_q": median([r["server_cpu_ms_per_q"] for r in runs if "server_cpu_ms_per_q" in r]),
        "client_cpu_ms_per_q": median([r["client_cpu_ms_per_q"] for r in runs if "client_cpu_ms_per_q" in r]),
        **(summary(latencies) if latencies else {}),
    }


def throughput(
    corpus: Path,
    index: Path,
    work: Path,
    pool: Sequence[str],
    *,
    levels: Sequence[int] = (1, 8, 32),
    rounds: int = 3,
    client: str = "rest",
) -> dict[str, Any]:
    """q/s and latency of ``alliance-qa serve`` and of the echo at each number of concurrent sessions.

    Each level runs ``rounds`` rounds of (product, echo), alternating which goes first;
    ``ratios`` holds each level's median over rounds of product q/s / echo q/s (paired within a round).
    """
    import gradio_client  # noqa: F401  (imported before timing)

    need = rounds * sum(questions_per_level(c) for c in levels)
    if len(pool) < need:
        raise ValueError(
            f"need {need} distinct questions for levels {list(levels)} x {rounds} rounds, have {len(pool)}"
        )
    rest = list(pool)
    product_rows, echo_rows = [], []
    ratios: dict[str, float | None] = {}
    with (
        server(corpus, index, work / "server-product.log") as product,
        server(corpus, index, work / "server-echo.log", echo=True) as echo,
    ):
        for srv in (product, echo):
            _wait_for_answer(srv)
        for clients in levels:
            runs: dict[str, list[dict[str, Any]]] = {"product": [], "echo": []}
            for rnd in range(rounds):
                order = (("product", product), ("echo", echo))
                for name, srv in order if rnd % 2 == 0 else order[::-1]:
                    total = questions_per_level(clients)
                    batch, rest = rest[:total], rest[total:]
                    runs[name].append(load_level(srv.url, batch, clients, srv.proc.pid, client=client))
            paired = [
                p["questions_per_s"] / e["questions_per_s"]
                for p, e in zip(runs["product"], runs["echo"], strict=True)
                if p["questions_per_s"] and e["questions_per_s"]
            ]
            ratios[str(clients)] = round(median(paired), 3) if paired else None
            product_rows.append(_row(clients, runs["product"]))
            echo_rows.append(_row(clients, runs["echo"]))
    top = str(max(levels))
    at_top = ratios[top]
    return {
        "rounds": rounds,
        "client": client,
        "levels": product_rows,
        "echo_levels": echo_rows,
        "ratios": ratios,
        "goal": f"q/s at {top} clients >= {GOAL_RATIO} x echo q/s (median of paired rounds)",
        "met": at_top is not None and at_top >= GOAL_RATIO,
    }


def _wait_for_answer(srv: Server, timeout: float = 300) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        try:
            _ask_once(srv.url, "warm-up: energy?")
            return
        except Exception:
            if srv.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"server did not answer within {timeout:.0f} s; see {srv.log}") from None
            time.sleep(0.2)
