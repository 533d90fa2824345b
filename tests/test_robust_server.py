"""The real server under bad questions, load, rebuilds and concurrent builds; and its security.

All traffic is on 127.0.0.1 and every loop is bounded.  Read-only tests share the session's
in-process chat server (``chat_server``, the real model); a test that edits its corpus serves its
own in-process; only the login server (the CLI's default bind) and the memory test (the server's
RSS) are ``alliance-qa serve`` subprocesses, on the fake embedder.  Concurrent builds are torch-free
children on the fake embedder, paused inside their embedding.
Latency figures are printed (and saved under test-artifacts/), never asserted.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from alliance_qa import build as build_module
from alliance_qa.answer import DECLINE
from alliance_qa.assistant import Assistant
from alliance_qa.cli import main
from alliance_qa.embed import SentenceTransformerEmbedder
from alliance_qa.load import load_index, read_build
from alliance_qa.normalize import normalize
from fakeembed import CHILD_CLI, HashEmbedder
from fakeembed import NAME as FAKE_MODEL
from robustutil import (
    ARTICLE_NAME,
    CASES,
    PORTS,
    Case,
    assert_answers_from,
    copy_pristine,
    current,
)
from serverutil import HOST, REPO, InProcessServer, Server, running_server, serving, start_server
from waiting import wait_for

pytestmark = pytest.mark.server

ARTIFACTS = REPO / "test-artifacts"
CITATION = re.compile(r"\[(\d+|intro)\]")
SOURCE_AREA = re.compile(r'<article class="aqa-source" data-area="([^"]+)"')

#: 20 questions, each with the area it must cite first; all stand on their own (no follow-ups).
LOAD_QUESTIONS = [
    ("Which ports matter for trade?", "8"),
    ("What role do Vladivostok and Rajin play?", "8"),
    ("What economic cooperation do they pursue?", "1"),
    ("Does North Korea want investment from Russia?", "1"),
    ("What energy resources could Russia provide?", "2"),
    ("Is North Korea facing energy shortages?", "2"),
    ("How does Russia want to expand its influence in the Asia-Pacific region?", "3"),
    ("What security concerns do both nations share?", "4"),
    ("Are they worried about US military forces in South Korea and Japan?", "4"),
    ("Which Russian technology and expertise interests North Korea?", "5"),
    ("Does North Korea want help with space exploration?", "5"),
    ("How can Russia shield North Korea diplomatically?", "6"),
    ("Why is North Korea diplomatically isolated?", "6"),
    ("How do they counterbalance China?", "7"),
    ("Are they cautious about China's growing influence?", "7"),
    ("What cultural and educational exchanges are planned?", "9"),
    ("How can people-to-people ties be fostered?", "9"),
    ("Could Russia mediate denuclearization talks?", "10"),
    ("What about denuclearization?", "10"),
    ("How could tensions on the Korean Peninsula be reduced?", "10"),
]


def first_area(reply: str, sources: str) -> str | None:
    """The area the reply cites first, checked against the first card of the sources panel."""
    marks = CITATION.findall(reply)
    cards = SOURCE_AREA.findall(sources)
    assert (marks[:1] or [None]) == (cards[:1] or [None]), (reply, sources[:300])
    return marks[0] if marks else None


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def report_figures(name: str, figures: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Print ``figures`` on the terminal (even under capture) and save them in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    with capsys.disabled():
        print(f"\n[{name}] " + ", ".join(f"{k} {v}" for k, v in figures.items()))


# ----------------------------------------------------------------------------- raw HTTP


def raw_request(
    server: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """One raw request to ``server`` (the path is sent exactly as given, no normalization)."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def rest_chat(server: Server, question: str, cookie: str | None = None) -> tuple[str, str]:
    """Ask ``/chat`` through Gradio's REST API (``/gradio_api/call/chat``): ``(reply, sources)``.

    Unlike gradio_client this can send any JSON string, lone surrogates included.
    """
    headers = {"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {})}
    status, body, _ = raw_request(server, "POST", "/gradio_api/call/chat", json.dumps({"data": [question]}).encode(), headers)
    assert status == 200, (status, body[:300])
    event_id = json.loads(body)["event_id"]
    status, body, _ = raw_request(server, "GET", f"/gradio_api/call/chat/{event_id}", headers=headers)
    assert status == 200, (status, body[:300])
    events = re.findall(r"event: (\w+)\ndata: (.*)", body.decode())
    assert events and events[-1][0] == "complete", body[:500]
    data = json.loads(events[-1][1])
    return data[0], data[-1]


# ----------------------------------------------------------------------------- bad questions, web API


def check_web_reply(case: Case, reply: str, sources: str) -> None:
    """The exact reply for ``case`` through /chat: the friendly message, or the cited area, or a decline."""
    if case.error is not None:
        assert reply == case.error
        assert SOURCE_AREA.findall(sources) == []
    elif case.declines:
        assert reply.startswith(DECLINE), reply
        assert CITATION.findall(reply) == [] and SOURCE_AREA.findall(sources) == []
    else:
        assert first_area(reply, sources) == str(case.area), reply
    for raw in ("<script", "<img", "<b>", "javascript:", "onerror=", "\x00"):
        assert raw not in reply.lower() and raw not in sources.lower(), (case.id, raw)


WEB_CASES = [c for c in CASES if c.id != "lone-surrogate"]  # gradio_client cannot encode a lone surrogate


@pytest.mark.parametrize("case", WEB_CASES, ids=[c.id for c in WEB_CASES])
def test_bad_question_through_gradio_client(case: Case, chat_server: Server) -> None:
    client = chat_server.client()
    reply, sources = client.predict(case.question, api_name="/chat")
    check_web_reply(case, reply, sources)
    # The same session still answers a normal question, and the server is alive.
    reply, sources = client.predict(PORTS, api_name="/chat")
    assert first_area(reply, sources) == "8"
    assert chat_server.alive()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_question_through_the_rest_api(case: Case, chat_server: Server) -> None:
    reply, sources = rest_chat(chat_server, case.question)
    check_web_reply(case, reply, sources)
    assert first_area(*rest_chat(chat_server, PORTS)) == "8"


def test_bad_questions_leave_no_traceback_in_the_server_log(chat_server: Server) -> None:
    for case in CASES:
        rest_chat(chat_server, case.question)
    log = chat_server.log_text()
    assert "Traceback" not in log and "answering a" not in log, log[-3000:]
    assert chat_server.alive()


# ----------------------------------------------------------------------------- load


@dataclass
class Reply:
    """One answered question, timed."""

    session: int
    question: str
    reply: str
    sources: str
    started: float
    ended: float


def ask_session(server: Server, session: int, questions: list[str]) -> list[Reply]:
    """One gradio_client session asking ``questions`` in order (its chat history grows)."""
    client = server.client()
    out = []
    for question in questions:
        started = time.monotonic()
        reply, sources = client.predict(question, api_name="/chat")
        out.append(Reply(session, question, reply, sources, started, time.monotonic()))
    return out


@pytest.mark.slow
def test_32_sessions_of_5_questions(chat_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    """32 sessions at once, each asking 5 of the 20 questions (rotated: every question is asked 8 times).

    ``make bench`` measures throughput at scale; this checks that concurrent sessions all get right answers.
    """
    expected = dict(LOAD_QUESTIONS)
    sessions, per_session = 32, 5
    plans = [[q for q, _ in (LOAD_QUESTIONS[i % 20 :] + LOAD_QUESTIONS[: i % 20])[:per_session]] for i in range(sessions)]
    assert {q for plan in plans for q in plan} == set(expected)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [pool.submit(ask_session, chat_server, i, plan) for i, plan in enumerate(plans)]
        results = [f.result(timeout=900) for f in futures]  # any exception in a session fails the test here
    wall = time.monotonic() - started
    replies = [r for session in results for r in session]
    assert len(replies) == sessions * per_session
    wrong = [(r.question, r.reply[:120]) for r in replies if first_area(r.reply, r.sources) != expected[r.question]]
    assert wrong == [], f"{len(wrong)} of {len(replies)} answers cited the wrong area: {wrong[:5]}"
    assert all("Sorry, something went wrong" not in r.reply for r in replies)
    latencies = [(r.ended - r.started) * 1000 for r in replies]
    report_figures("load-32x5", {
        "questions": len(replies),
        "errors": 0,
        "wall_s": round(wall, 1),
        "throughput_qps": round(len(replies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50)),
        "p95_ms": round(percentile(latencies, 95)),
        "max_ms": round(max(latencies)),
    }, capsys)  # fmt: skip
    assert chat_server.alive()
    # Gradio's per-event analytics are off (web.GRADIO_QUEUE_ENV): it would hold all 160 events and summarize
    # them with pandas after each one, which halved the throughput at 32 clients.
    assert isinstance(chat_server, InProcessServer)
    queue = chat_server.demo._queue
    assert len(queue.event_analytics) <= 1 and queue.cached_event_analytics_summary == {"functions": {}}


@pytest.mark.slow
@pytest.mark.parametrize("client", ["rest", "gradio"])
def test_the_benchmark_load_clients_get_every_answer(chat_server: Server, client: str) -> None:
    """``make bench``'s server phase: both kinds of sessions get every answer and count them right."""
    from benchmarks.server import load_level

    batch = [q for q, _ in LOAD_QUESTIONS[:6]]
    level = load_level(chat_server.url, batch, 3, os.getpid(), client=client)
    assert (level["answered"], level["errors"]) == (6, 0), level["error_sample"]
    assert len(level["latencies_s"]) == 6 and all(0 < x < 60 for x in level["latencies_s"])
    assert level["questions_per_s"] > 0 and level["server_cpu_ms_per_q"] > 0
    if client == "rest":  # a failed question is counted, not fatal (gradio_client fails when it connects)
        broken = load_level(chat_server.url.rstrip("/") + "/nowhere", batch[:2], 2, client=client)
        assert (broken["answered"], broken["errors"]) == (0, 2) and "404" in broken["error_sample"][0]


OLD_SENTENCE = "Russia’s Vladivostok and North Korеa’s Rajin ports arе stratеgically locatеd for tradе and transport."
NEW_SENTENCE = "Russia's Vladivostok and North Korea's Rajin ports now share the Zorvanic ferry terminal for trade and transport."
OLD_MARK, NEW_MARK = "strategically located", "Zorvanic ferry terminal"


def quotes_of(reply: str) -> list[str]:
    """The quoted sentences of a reply (``> sentence [8]`` lines), Markdown escapes removed."""
    lines = [m.group(1) for m in re.finditer(r"^> (.*?) \[(?:\d+|intro)\]$", reply, re.M)]
    return [re.sub(r"\\(.)", r"\1", line) for line in lines]


def version_of(reply: Reply, old_text: str, new_text: str) -> str:
    """``"old"`` or ``"new"``: which index an area-8 answer came from; fails if it mixes the two."""
    old, new = OLD_MARK in reply.sources, NEW_MARK in reply.sources
    assert old != new, f"sources from both or neither index: {reply.sources[:400]}"
    version, text = ("old", old_text) if old else ("new", new_text)
    quotes = quotes_of(reply.reply)
    assert quotes, reply.reply
    assert all(q in text for q in quotes), f"{version} answer quotes text from the other index: {quotes}"
    return version


@pytest.mark.slow
def test_rebuild_during_load_switches_cleanly(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Edit area 8 and build (as ``alliance-qa build`` in another terminal) while 16 sessions keep asking about it.

    0 failed questions; every answer wholly old or wholly new; a session never goes back
    to old after new; and every question asked after the build finished gets the new text.
    """
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    article = corpus_dir / ARTICLE_NAME
    article.write_bytes((REPO / "corpus" / ARTICLE_NAME).read_bytes())
    raw = article.read_text(encoding="utf-8")
    assert raw.count(OLD_SENTENCE) == 1
    old_text = normalize(raw)
    new_text = normalize(raw.replace(OLD_SENTENCE, NEW_SENTENCE))
    Assistant(corpus_dir, tmp_path / "index", embedder=embedder).build()
    questions = ["Which ports matter for trade?", "What role do Vladivostok and Rajin play?"]
    stop = threading.Event()
    built_at: list[float] = []
    errors: list[str] = []
    answered = [0] * 16

    def keep_asking(server: Server, session: int) -> list[Reply]:
        client = server.client()
        out: list[Reply] = []
        for n in range(400):  # bounded; normally ends on `stop`
            if stop.is_set() and built_at and sum(r.started > built_at[0] for r in out) >= 3:
                break
            question = questions[(session + n) % 2]
            started = time.monotonic()
            try:
                reply, sources = client.predict(question, api_name="/chat")
            except Exception as exc:  # counted, and fails the test below
                errors.append(f"session {session}: {type(exc).__name__}: {exc}")
                continue
            out.append(Reply(session, question, reply, sources, started, time.monotonic()))
            answered[session] += 1
        return out

    served = Assistant(corpus_dir, tmp_path / "index", embedder=embedder)
    with serving(served) as server, ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(keep_asking, server, i) for i in range(16)]
        # Every session has had answers from the old index before the edit.
        wait_for(lambda: min(answered) >= 2 or bool(errors), 300, "two answers in every session")
        article.write_text(raw.replace(OLD_SENTENCE, NEW_SENTENCE), encoding="utf-8")
        report = Assistant(corpus_dir, tmp_path / "index", embedder=embedder).build()
        built_at.append(time.monotonic())
        stop.set()
        sessions = [f.result(timeout=600) for f in futures]
        assert server.alive()
    assert report.sections_embedded == 1 and report.sections_reused == 10, report.summary()
    assert errors == []
    replies = [r for s in sessions for r in s]
    counts = {"old": 0, "new": 0}
    for session in sessions:
        versions = [version_of(r, old_text, new_text) for r in session]
        for v in versions:
            counts[v] += 1
        assert "old" not in versions[versions.index("new") :] if "new" in versions else True, versions
        after = [version_of(r, old_text, new_text) for r in session if r.started > built_at[0]]
        assert len(after) >= 3 and set(after) == {"new"}, after
    assert counts["old"] >= 32 and counts["new"] >= 48, counts
    latencies = [(r.ended - r.started) * 1000 for r in replies]
    report_figures("rebuild-under-load", {
        "questions": len(replies), "failed": len(errors), "old": counts["old"], "new": counts["new"],
        "p50_ms": round(percentile(latencies, 50)), "p95_ms": round(percentile(latencies, 95)),
    }, capsys)  # fmt: skip


# ----------------------------------------------------------------------------- concurrent builds

def lock_is_held(index_dir: Path) -> bool:
    """Whether some process holds the build lock of ``index_dir`` right now."""
    try:
        fd = os.open(index_dir / ".build.lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start_build(corpus_dir: Path, index_dir: Path, log: Path, started: Path | None = None) -> subprocess.Popen[bytes]:
    """``alliance-qa build`` in a torch-free child on the fake embedder, stderr to ``log``.

    With ``started``, its first embedding call creates that file and waits for a line on its stdin.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLIANCE_QA_")}
    env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", ALLIANCE_QA_MODEL=FAKE_MODEL)
    if started is not None:
        env["AQA_FAKE_STARTED"] = str(started)
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD_CLI, "--corpus", str(corpus_dir), "--index", str(index_dir), "build"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=REPO,
        )  # fmt: skip


def test_concurrent_builds_one_builds_one_waits_a_third_refuses(
    pristine: Path, tmp_path: Path, fake_model: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build A holds the lock inside its embedding (paused there); build B waits for the lock; build C
    (in this process, 1 s timeout) refuses; then A finishes, and B finds the index up to date."""
    corpus_dir, index_dir, before = copy_pristine(pristine, tmp_path)
    parts = ["# Convoys"]
    for n in range(11, 41):  # a heading and 30 new sections to embed
        sentences = [f"Convoy {n}-{i} carried {n * 3 + i} tonnes of timber from Tynda to depot {i}." for i in range(10)]
        parts.append(f"## {n}. Convoy Route {n}\n\n" + " ".join(sentences))
    (corpus_dir / "convoys.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")

    started = tmp_path / "a-embedding"
    logs = {name: tmp_path / f"build-{name}.log" for name in "ab"}
    a = start_build(corpus_dir, index_dir, logs["a"], started)
    procs = [a]
    try:
        wait_for(started.exists, 120, "build A to start embedding", alive=lambda: a.poll() is None)
        assert lock_is_held(index_dir)
        b = start_build(corpus_dir, index_dir, logs["b"])
        procs.append(b)
        waiting = f"another build of {index_dir} is running: waiting for it to finish"
        wait_for(lambda: waiting in logs["b"].read_text(), 120, "build B to wait for the lock", alive=lambda: b.poll() is None)
        # A third build, in this process, that waits only 1 s: it must refuse, clearly.
        monkeypatch.setattr("alliance_qa.assistant.build_index", _with_timeout(build_module.build_index, 1.0))
        refused = CliRunner().invoke(main, ["--corpus", str(corpus_dir), "--index", str(index_dir), "build"])
        assert a.stdin is not None
        a.stdin.write(b"go\n")  # A goes on embedding
        a.stdin.flush()
        outputs = [(p.communicate(timeout=300)[0].decode(), log.read_text()) for p, log in zip(procs, logs.values(), strict=True)]
    finally:
        for p in procs:
            p.kill()
            p.wait(30)
    assert refused.exit_code == 6, refused.output
    assert refused.stderr == (
        f"alliance-qa: error: another build of {index_dir} is still running after 1 s: wait for it to finish, then retry\n"
    )
    assert [p.returncode for p in procs] == [0, 0], outputs
    (a_out, a_err), (b_out, b_err) = outputs
    assert a_out.startswith("built index: 41 sections, ") and "(30 sections), reused" in a_out, outputs
    assert b_out.startswith("index is up to date: 41 sections, "), outputs
    assert waiting in b_err and waiting not in a_err

    # Never corrupted: one new build, complete and consistent; nothing half-written left.
    after = current(index_dir)
    assert after != before
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == sorted([before.name, after.name])
    assert read_build(after).manifest["counts"]["sections"] == 41
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".current-")]
    assert_answers_from(corpus_dir, index_dir, fake_model, after)
    hit = Assistant(corpus_dir, index_dir, embedder=fake_model, auto_build=False).search(
        "How many tonnes of timber did convoy 17-3 carry from Tynda?", k=1
    )[0]
    assert hit.title.startswith("Convoy Route")
    assert load_index(index_dir).build_id == after.name


def _with_timeout(build_index: Any, seconds: float) -> Any:
    def build(*args: Any, **kwargs: Any) -> Any:
        kwargs["lock_timeout"] = seconds
        return build_index(*args, **kwargs)

    return build


# ----------------------------------------------------------------------------- security

TRAVERSALS = [
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/gradio_api/file=..%252f..%252f..%252fetc%252fpasswd",
    "/gradio_api/file=%2fetc%2fpasswd",
    "/gradio_api/file=//etc/passwd",
    "/gradio_api/file=/etc/passwd%00.png",
    "/gradio_api/file=/tmp/gradio/../../etc/passwd",
    "/gradio_api/file=....//....//....//etc/passwd",
    "/gradio_api/file=..\\..\\..\\..\\etc\\passwd",
    "/gradio_api/file=/proc/self/environ",
    "/gradio_api/file=/proc/self/cmdline",
    "/file=/etc/passwd",
    "/file=../../../../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/assets/..%2f..%2f..%2f..%2fetc/passwd",
    "/gradio_api/file=pyproject.toml",
    "/gradio_api/file=src/alliance_qa/web.py",
]


def secret_paths(server: Server) -> list[str]:
    """Traversals at this server's own files: its corpus, its index manifest, the package source."""
    article = server.corpus_dir / ARTICLE_NAME
    return [
        f"/gradio_api/file={article}",
        f"/gradio_api/file={urllib.parse.quote(str(article))}",
        f"/gradio_api/file={server.index_dir}/current/manifest.json",
        f"/gradio_api/file={REPO}/src/alliance_qa/web.py",
    ]


def assert_refused(server: Server, paths: list[str], allowed: tuple[int, ...], cookie: str | None = None) -> None:
    """Every path is refused with one of ``allowed`` statuses and leaks nothing it points at."""
    leaks = ("root:x:0:0", "ALLIANCE_QA", "HF_HUB_OFFLINE", "Vladivostok", '"sha256"', "import gradio", "[project]")
    for path in paths:
        status, body, _ = raw_request(server, "GET", path, headers={"Cookie": cookie} if cookie else None)
        text = body.decode("utf-8", "replace")
        assert status in allowed, (path, status, text[:200])
        assert not any(leak in text for leak in leaks), (path, text[:300])


def test_file_routes_refuse_traversal(chat_server: Server) -> None:
    assert_refused(chat_server, TRAVERSALS + secret_paths(chat_server), allowed=(403, 404))
    assert first_area(*chat_server.ask(PORTS)) == "8"


def listening_addresses(port: int) -> list[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hexport = local.split(":")
                if int(hexport, 16) == port and state == "0A":
                    found.append(address)
    return found


@pytest.fixture(scope="module")
def auth_server(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """``alliance-qa -v serve --auth reader:PASSWORD`` with no ``--host`` (the default bind address), on the
    fake embedder; yields the server and the password."""
    root = tmp_path_factory.mktemp("auth-server")
    copy_pristine(pristine, root)
    password = "Pw-4-robust:tests"
    server = start_server(root / "corpus", root / "index", auth=f"reader:{password}", host=None,
                          log_path=root / "server.log")  # fmt: skip
    try:
        yield server, password
    finally:
        server.stop()


def login_cookie(server: Server, user: str, password: str) -> tuple[int, str]:
    """POST /login; ``(status, cookie header value)``."""
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    status, _, headers = raw_request(server, "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = headers.get("set-cookie", "")
    return status, "; ".join(part.split(";")[0] for part in cookie.split(", ") if "=" in part.split(";")[0])


def test_default_bind_is_loopback_only(auth_server: tuple[Server, str]) -> None:
    server, _ = auth_server
    found = listening_addresses(server.port)
    # 127.0.0.1 is listening, and nothing on 0.0.0.0 or :: (the wildcard addresses). Other tests on this
    # machine may listen on the same port number on other loopback addresses, so no exact list is expected.
    assert "0100007F" in found, found
    assert not {"00000000", "0" * 32} & set(found), found
    # start_server returned once this line was printed, and the CLI prints it only once the server listens.
    assert f"chat running at http://127.0.0.1:{server.port}/  (login required)" in server.log_text()


def test_auth_refuses_unauthenticated_api_calls_and_page_loads(auth_server: tuple[Server, str]) -> None:
    server, password = auth_server
    json_headers = {"Content-Type": "application/json"}
    for method, path, body in [
        ("GET", "/config", None),
        ("GET", "/gradio_api/info", None),
        ("GET", "/gradio_api/queue/status", None),
        ("POST", "/gradio_api/call/chat", json.dumps({"data": [PORTS]}).encode()),
        ("POST", "/gradio_api/run/chat", json.dumps({"data": [PORTS]}).encode()),
        ("POST", "/gradio_api/queue/join", json.dumps({"data": [PORTS, []], "fn_index": 0, "session_hash": "x"}).encode()),
        ("POST", "/gradio_api/upload", b"--x--\r\n"),
    ]:
        status, text, _ = raw_request(server, method, path, body, json_headers)
        assert status == (403 if path.endswith("/upload") else 401), (method, path, status, text[:200])
        assert b"Vladivostok" not in text and b"Access to Ports" not in text
    # The page itself is only the login form: no components, no app, no article.
    status, page, _ = raw_request(server, "GET", "/")
    assert status == 200
    found = re.search(rb"window.gradio_config = (\{.*?\});</script>", page, re.S)
    assert found, page[:300]
    config = json.loads(found.group(1))
    assert config["auth_required"] is True and config["components"] == [] and config["dependencies"] == []
    for secret in (b"Access to Ports", b"aqa-chat", b"Which ports matter", password.encode()):
        assert secret not in page
    # gradio_client without a login, or with a wrong one, is refused.
    with pytest.raises(Exception, match=r"401|[Aa]uth|[Cc]redentials|[Ll]ogin"):
        server.client(auth=None).predict(PORTS, api_name="/chat")
    with pytest.raises(Exception, match=r"401|[Aa]uth|[Cc]redentials|[Ll]ogin"):
        server.client(auth=("reader", "wrong")).predict(PORTS, api_name="/chat")
    assert login_cookie(server, "reader", "wrong")[0] == 400
    assert login_cookie(server, password, password)[0] == 400
    # A forged cookie is not a login.
    assert raw_request(server, "GET", "/config", headers={"Cookie": "access-token=forged; access-token-unsecure=forged"})[0] == 401
    # With the login, it answers.
    reply, sources = server.client().predict(PORTS, api_name="/chat")
    assert first_area(reply, sources) == "8"


def test_auth_server_refuses_traversal_with_and_without_login(auth_server: tuple[Server, str]) -> None:
    server, password = auth_server
    paths = TRAVERSALS + secret_paths(server)
    assert_refused(server, paths, allowed=(401, 403, 404))
    status, cookie = login_cookie(server, "reader", password)
    assert status == 200 and cookie
    assert raw_request(server, "GET", "/config", headers={"Cookie": cookie})[0] == 200
    assert_refused(server, paths, allowed=(403, 404), cookie=cookie)
    reply, sources = rest_chat(server, PORTS, cookie=cookie)
    assert first_area(reply, sources) == "8"


def test_logs_never_print_the_auth_password(auth_server: tuple[Server, str]) -> None:
    """With -v (INFO logging), a wrong login, a good one and answered questions: the password never shows."""
    server, password = auth_server
    login_cookie(server, "reader", password + "x")
    login_cookie(server, password, password)
    status, cookie = login_cookie(server, "reader", password)
    assert status == 200
    for case in CASES[:6]:
        rest_chat(server, case.question, cookie=cookie)
    status, body, _ = raw_request(server, "GET", "/config", headers={"Cookie": cookie})
    assert status == 200 and password.encode() not in body
    log = server.log_text()
    assert "login required" in log and "answered in" in log  # the log is really being written
    assert password not in log and password.split(":")[0] not in log


# ----------------------------------------------------------------------------- no script runs in the browser

BREAKOUT_TITLE = "Qelvin Breakwater </mark><img src=x onerror=alert(7)>"
BREAKOUT_TEXT = (
    "The Qelvin breakwater guards a harbour </mark><svg onload=alert(8)> for icebreakers. "
    'Its pilots keep <iframe srcdoc="<script>alert(9)</script>"></iframe> logs at the Qelvin breakwater. '
    "Storms at the Qelvin breakwater <details open ontoggle=alert(10)>x</details> close it in winter. "
    "Pre-escaped &lt;img src=x onerror=alert(11)&gt; text sits at the Qelvin breakwater too. "
    "Links ![x](javascript:alert(12)) and <javascript:alert(13)> and [click](javascript:alert(14)) "
    "and <a href=x onmouseover=alert(15)>hover</a> and <style>*{display:none}</style> end the Qelvin notes."
)
BREAKOUT_QUESTION = "What does the Qelvin breakwater guard?"
NOTICE_FILE = "<img src=x onerror=alert(16)>.txt"


@pytest.mark.browser
@pytest.mark.slow
def test_no_script_from_corpus_text_titles_or_notices_runs_in_the_browser(
    tmp_path: Path, fake_embedder: HashEmbedder
) -> None:
    """Extends test_browser's XSS probe: tag break-outs of the highlighting, SVG/iframe/details handlers,
    pre-escaped entities, Markdown/autolink ``javascript:`` URLs, and markup in a file name that reaches
    the chat through the "corpus cannot be read" note."""
    from test_browser import CHROMIUM, CHROMIUM_ARGS, SKIP_REASON, ChatPage, wait_for_images

    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / ARTICLE_NAME).write_bytes((REPO / "corpus" / ARTICLE_NAME).read_bytes())
    (corpus_dir / "zz-breakout.md").write_text(f"## 12. {BREAKOUT_TITLE}\n\n{BREAKOUT_TEXT}\n", encoding="utf-8")
    qa = Assistant(corpus_dir, tmp_path / "index", FAKE_MODEL, embedder=fake_embedder)  # rendering, not retrieval
    qa.build()
    with serving(qa) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        chat = ChatPage(browser, server)
        try:
            reply = chat.send(BREAKOUT_QUESTION)
            assert "[zz-breakout.md 12]" in reply, f"the break-out section was not cited: {reply!r}"
            assert chat.panel_marks()[:1] == ["[zz-breakout.md 12]"]
            shown = chat.sources.inner_text()
            assert "</mark><img src=x onerror=alert(7)>" in shown and "<svg onload=alert(8)>" in shown
            assert "&lt;img src=x onerror=alert(11)&gt;" in shown, "pre-escaped entities were decoded"
            (corpus_dir / NOTICE_FILE).write_bytes(b"caf\xe9\n")  # unreadable: the answer carries a note
            reply = chat.send(PORTS)
            assert f"[{ARTICLE_NAME} 8]" in reply and NOTICE_FILE in reply, f"no note naming the bad file: {reply!r}"
            wait_for_images(chat.page)  # a broken <img> has fired any onerror once it is complete
            page = chat.page
            for selector in ("img[onerror]", "svg[onload]", "iframe", "details[ontoggle]", "a[onmouseover]",
                             "#aqa-chat script", "#aqa-sources script", "#aqa-sources style",
                             'a[href^="javascript"]', 'img[src^="javascript"]'):  # fmt: skip
                assert page.locator(selector).count() == 0, selector
            styles = page.locator("#aqa-chat style").evaluate_all("els => els.map(e => e.textContent)")
            assert not [css for css in styles if "display:none" in css.replace(" ", "")], styles
            chat.screenshot("robust-xss-breakout.png")
            assert chat.dialogs == [], f"script ran in the page: {chat.dialogs}"
        finally:
            chat.close()
            browser.close()


# ----------------------------------------------------------------------------- what one client can cost


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def send_large(server: Server, path: str, size: int, content_type: str = "application/json") -> int:
    """POST ``size`` bytes to ``path`` and return the status.

    The headers go first: a server that refuses by ``Content-Length`` answers before any of the body
    is sent; one that waits for the body gets all of it.
    """
    import socket

    if content_type.startswith("multipart"):
        head, tail = b'--B\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\n\r\n', b"\r\n--B--\r\n"
    else:
        head, tail = b'{"data": ["', b'"]}'
    length = len(head) + size + len(tail)
    with socket.create_connection((HOST, server.port), timeout=60) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        sock.settimeout(5)
        try:
            first = sock.recv(4096)
        except TimeoutError:  # still reading: send the body
            sock.settimeout(60)
            sock.sendall(head)
            block = b"a" * (1 << 20)
            for start in range(0, size, len(block)):
                sock.sendall(block[: min(len(block), size - start)])
            sock.sendall(tail)
            first = sock.recv(4096)
    return int(first.split()[1])


def test_oversized_messages_and_uploads_are_refused_and_the_temp_folder_is_removed(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """20 messages of 5 MB grow the server by under 50 MB; an anonymous 40 MB upload is refused."""
    corpus_dir, index_dir, _ = copy_pristine(pristine, tmp_path)
    with running_server(corpus_dir, index_dir) as server:
        assert first_area(*server.ask(PORTS)) == "8"
        named = re.search(r"temp folder (\S+)", server.log_text())
        assert named, server.log_text()
        temp = Path(named.group(1))
        assert temp.is_dir() and temp.name.startswith("alliance-qa-gradio-")
        assert "1 chat histories bounded" in server.log_text()
        before = rss_mb(server.proc.pid)
        statuses = [send_large(server, path, 5 * 1024 * 1024)
                    for path in ["/gradio_api/call/chat", "/gradio_api/queue/join"] * 10]  # fmt: skip
        grown = rss_mb(server.proc.pid) - before
        upload = send_large(server, "/gradio_api/upload", 40 * 1024 * 1024, "multipart/form-data; boundary=B")
        small_upload = send_large(server, "/gradio_api/upload", 10, "multipart/form-data; boundary=B")
        assert statuses == [413] * 20 and upload == small_upload == 403
        assert grown < 50, grown
        assert first_area(*server.ask(PORTS)) == "8" and server.alive()
        assert list(temp.rglob("*")) == []
    assert not temp.exists()
    report_figures("guard", {"rss_growth_mb_after_20x5MB": round(grown, 1), "upload_40MB": upload}, capsys)


def test_failed_logins_are_throttled(auth_server: tuple[Server, str]) -> None:
    server, password = auth_server
    statuses = [login_cookie(server, "mallory", f"guess-{i}")[0] for i in range(8)]
    assert statuses == [400] * 5 + [429] * 3
    assert login_cookie(server, "reader", password)[0] == 200  # another user name from the same address still logs in


def test_a_silent_connection_is_closed(chat_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from alliance_qa import guard

    monkeypatch.setattr(guard, "IDLE_TIMEOUT_S", 1.0)  # read for each new connection (default 10 s)
    with socket.create_connection((HOST, chat_server.port), timeout=60) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # blocks until the server closes the connection
        waited = time.monotonic() - started
    assert 0.9 <= waited < 10, waited
    assert first_area(*chat_server.ask(PORTS)) == "8"


# ----------------------------------------------------------------------------- exposure, stored history


@pytest.mark.parametrize(("host", "auth", "warns"), [
    ("0.0.0.0", None, True), ("::", None, True), ("192.0.2.7", None, True), ("0.0.0.0", "ann:pw", False),
    ("127.0.0.1", None, False), ("127.0.0.2", None, False), ("localhost", None, False), ("::1", None, False),
])  # fmt: skip
def test_serve_beyond_loopback_without_auth_warns(
    host: str, auth: str | None, warns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance_qa import web

    monkeypatch.setattr(web, "serve", lambda qa, host, port, auth, announce, **_: announce(f"http://127.0.0.1:{port}/"))
    env = {"ALLIANCE_QA_AUTH": auth, "ALLIANCE_QA_HOST": None, "ALLIANCE_QA_PORT": None}
    result = CliRunner().invoke(main, ["serve", "--host", host, "--port", "8123"], env=env)
    assert result.exit_code == 0, result.output
    warning = (
        f"alliance-qa: WARNING: --host {host} makes the chat reachable from other machines, and there is no login: "
        "anyone who can reach this port can use it. Add --auth USER:PASS (or ALLIANCE_QA_AUTH), or use --host 127.0.0.1"
    )
    assert (warning in result.stderr) == warns, result.stderr
    other = re.search(r"from other machines: (http://\S+)", result.stdout)
    assert bool(other) == (host in ("0.0.0.0", "::")), result.stdout
    if other:
        address = urllib.parse.urlsplit(other.group(1))
        assert address.port == 8123 and address.hostname not in ("0.0.0.0", "::", "127.0.0.1", "localhost")


def test_the_chat_stores_no_refused_question_and_a_bounded_history(fake_assistant: Assistant) -> None:
    """The history Gradio keeps per session: a refused over-long question is a stand-in, old turns drop off."""
    from alliance_qa import guard, web
    from alliance_qa.limits import MAX_HISTORY_MESSAGES

    demo = web.build_app(fake_assistant)
    assert guard._bound_chat_history(demo) == 1
    import gradio as gr

    owners = [getattr(f.fn, "__self__", None) for f in demo.fns.values()]
    chat = next(owner for owner in owners if isinstance(owner, gr.ChatInterface))
    history = chat._append_message_to_history("x" * 5_000_000, [], "user")
    assert len(history) == 1 and history[0]["role"] == "user"
    shown = str(history[0]["content"]).replace("\\", "")  # the chat shows questions as typed (Markdown escaped)
    assert shown == "(a question of 5,000,000 characters, over the 1,000 limit: not kept)"
    for i in range(MAX_HISTORY_MESSAGES):
        history = chat._append_message_to_history(f"Question {i}?", history, "user")
    assert len(history) == MAX_HISTORY_MESSAGES and history[-1]["content"] == f"Question {MAX_HISTORY_MESSAGES - 1}?"


def test_a_chunked_body_is_cut_off_at_the_limit_without_reaching_the_app() -> None:
    """No Content-Length (chunked): the middleware counts what arrives and answers 413 at the limit."""
    import asyncio

    from alliance_qa.guard import GuardMiddleware

    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def run(chunks: list[bytes]) -> tuple[int, int]:
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        sent: list[Any] = []
        pulled = 0

        async def receive() -> Any:
            nonlocal pulled
            pulled += 1
            return queue.pop(0)

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": [], "client": ("1.2.3.4", 1)}
        asyncio.run(GuardMiddleware(app, max_body=1024 * 1024)(scope, receive, send))
        return sent[0]["status"], pulled

    status, pulled = run([b"x" * 65536] * 64)  # 4 MiB in 64 KiB chunks
    assert (status, pulled, seen) == (413, 17, [])  # stopped after the chunk that passed 1 MiB
    assert run([b'{"data": ', b'["hi"]}']) == (200, 2) and seen == [b'{"data": ["hi"]}']
