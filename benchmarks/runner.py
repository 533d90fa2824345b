"""Run the benchmark: every figure of issue 6, written to ``bench/results.json`` and printed as a table.

``python -m benchmarks`` (what ``make bench`` and ``alliance-qa bench`` run).
Phases, each skippable with ``--only``:

* ``warm``: ``ask()`` p50/p95 over 240 varied questions against bare ``encode`` + one FAISS search;
* ``cold``: ``alliance-qa ask`` wall time against a bare sentence-transformers import (+ model load), and
  an import trace of ``ask``;
* ``build``: full-build texts/s against raw ``encode`` on the same texts, and one incremental rebuild;
* ``server``: time from ``alliance-qa serve`` to its first answer, and q/s and latency at 1, 8 and 32
  concurrent gradio_client sessions on loopback, against an echoing ChatInterface (Gradio's floor),
  interleaved round by round (see :mod:`benchmarks.server`);
* ``scale``: synthetic corpora of 1k, 10k and 100k sections (see :mod:`benchmarks.scale`).

Absolute times are this machine's; the ratios are what carry over.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alliance_qa.chunk import CHUNKINGS

from . import cold, measure, realtext, server
from . import scale as scale_step
from .synth import questions

#: The repository root: scale points run as `python -m benchmarks.scale` from here.
ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger(__name__)

PHASES = ("warm", "cold", "build", "realtext", "server", "scale")


def _run_phase(results: dict[str, Any], name: str, step: Callable[[], Any]) -> None:
    log.info("bench: %s ...", name)
    started = time.perf_counter()
    try:
        results[name] = step()
    except Exception as exc:  # a failed phase is reported, and the others still run
        log.error("bench: %s failed: %s", name, exc)
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    log.info("bench: %s done in %.0f s", name, time.perf_counter() - started)


def _bind(func: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: func(*args)


def _scale_point(size: int, work: Path, real_max: int) -> dict[str, Any]:
    vectors = "real" if size <= real_max else "proxy"
    root = work / f"scale-{size}"
    shutil.rmtree(root, ignore_errors=True)
    out: dict[str, Any] = {}
    for step, extra in (("build", ["--sections", str(size)]), ("query", ["--asks", "100" if size <= 10_000 else "30"])):
        command = [sys.executable, "-m", "benchmarks.scale", step, "--root", str(root), "--vectors", vectors, *extra]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(command, capture_output=True, text=True, timeout=7200, check=False, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"scale {step} at {size} sections exited with {done.returncode}: {done.stderr[-2000:]}")
        out[step] = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(root, ignore_errors=True)
    return {"sections": size, **out["build"], "query": out["query"]}


def run(
    *,
    corpus_dir: Path,
    work: Path,
    phases: Sequence[str] = PHASES,
    sizes: Sequence[int] = (1000, 10_000, 100_000),
    real_max: int = 1000,
    repeats: int = 3,
    question_count: int = 240,
    build_sections: int = 500,
    realtext_chapters: int | None = None,
    server_levels: Sequence[int] = (1, 8, 32),
    server_rounds: int = 3,
    server_client: str = "rest",
) -> dict[str, Any]:
    """Run the chosen ``phases`` with ``work`` as scratch space; return the results dictionary."""
    from alliance_qa.embed import load_embedder

    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": measure.machine(),
        "settings": {
            "phases": list(phases),
            "sizes": list(sizes),
            "real_vectors_up_to_sections": real_max,
            "repeats": repeats,
            "questions": question_count,
            "build_sections": build_sections,
            "server_clients": list(server_levels),
            "server_rounds": server_rounds,
            "server_client": server_client,
        },
    }
    embedder = load_embedder()
    article = work / "article"
    corpus, index = measure.prepare_article(corpus_dir, article, embedder)
    asked = measure.article_questions(corpus, question_count, repo=Path.cwd())
    if "warm" in phases:
        _run_phase(results, "warm", lambda: measure.warm_latency(corpus, index, embedder, asked, repeats=repeats))
    if "cold" in phases:
        _run_phase(results, "cold", lambda: cold.cold_start(corpus, index, repeats=repeats))
    if "build" in phases:
        _run_phase(
            results, "build", lambda: measure.build_throughput(work / "build", embedder, sections=build_sections)
        )
    if "realtext" in phases:
        _run_phase(
            results,
            "realtext",
            lambda: realtext.build_ratio(
                work / "realtext", embedder, rounds=2, max_chapters=realtext_chapters, chunkings=("sentences", "averaged", "pooled")
            ),
        )
    if "server" in phases:
        pool = [q for q in dict.fromkeys([*asked, *questions(2000, seed=17)]) if q != cold.QUESTION]

        def serve() -> dict[str, Any]:
            first = cold.first_answer(corpus, index, work, repeats=max(1, min(repeats, 2)))
            rate = server.throughput(corpus, index, work, pool, levels=server_levels, rounds=server_rounds,
                                     client=server_client)
            return {"first_answer": first, "throughput": rate}

        _run_phase(results, "server", serve)
    if "scale" in phases:
        points: list[dict[str, Any]] = []
        for size in sizes:
            holder: dict[str, Any] = {}
            _run_phase(holder, f"scale {size}", _bind(_scale_point, size, work, real_max))
            point = holder[f"scale {size}"]
            points.append(point if "error" not in point else {"sections": size, **point})
        results["scale"] = points
    results["machine"]["load_avg_end"] = measure.machine()["load_avg"]
    results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


# --------------------------------------------------------------------------- the table


def _fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (int, float)):
        return f"{value:{spec}}{unit}"
    return str(value)


def _goal(met: Any) -> str:
    return "" if met is None else ("met" if met else "MISSED")


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table (also pasted into the README)."""
    m = results.get("machine", {})
    lines = [
        f"alliance-qa benchmark, {results.get('generated_at', '')}: {m.get('cores')} cores, {m.get('ram_gb')} GB RAM, "
        f"{m.get('cpu')}; load average {m.get('load_avg')} at start, {m.get('load_avg_end')} at end",
        "",
        f"{'figure':<44}{'measured':>22}{'baseline':>24}{'ratio':>8}  goal",
    ]

    def row(name: str, got: str, base: str = "", ratio: str = "", goal: str = "") -> None:
        lines.append(f"{name:<44}{got:>22}{base:>24}{ratio:>8}  {goal}")

    warm = results.get("warm")
    if warm and "error" not in warm:
        row(
            f"warm ask() p50 / p95 ({warm['questions']} q x {warm['repeats']})",
            f"{warm['ask_p50_ms']:.1f} / {warm['ask_p95_ms']:.1f} ms",
            f"{warm['bare_p50_ms']:.1f} / {warm['bare_p95_ms']:.1f} ms",
            f"{warm['ratio_p50']:.2f}",
            f"<= 1.3 {_goal(warm['met'])}",
        )
        row("  ask() minus its question embedding, p50", f"{warm['ask_without_embedding_p50_ms']:.1f} ms")
    elif warm:
        row("warm ask()", "error: " + warm["error"][:60])
    cold_r = results.get("cold")
    if cold_r and "error" not in cold_r:
        row(
            "cold `alliance-qa ask` (wall)",
            f"{cold_r['cli_ask_s']:.2f} s",
            f"{cold_r['bare_import_and_load_s']:.2f} s import+load",
            f"{cold_r['ratio_vs_import_and_load']:.2f}",
            f"<= 1.2 {_goal(cold_r['met'])}",
        )
        row("  bare `import sentence_transformers`", f"{cold_r['bare_import_s']:.2f} s", "", f"{cold_r['ratio_vs_import']:.2f}")
        row("  gradio etc. imported by `ask`", ", ".join(cold_r["forbidden_imported"]) or "none")
    elif cold_r:
        row("cold start", "error: " + cold_r["error"][:60])
    srv = results.get("server")
    if srv and "error" not in srv:
        first = srv["first_answer"]
        row("server: start to first answer", f"{first['first_answer_s']:.2f} s", f"listening {first['listening_s']:.2f} s")
    elif srv:
        row("server", "error: " + srv["error"][:60])
    build = results.get("build")
    if build and "error" not in build:
        row(
            f"full build ({build['sections']} sections, {build['texts']} texts)",
            f"{build['build_texts_per_s']:.0f} texts/s",
            f"{build['raw_encode_texts_per_s']:.0f} texts/s raw",
            f"{build['ratio']:.2f}",
            f">= 0.9 {_goal(build['met'])}",
        )
        if "cpu_ratio" in build:
            row("  the same ratio in process CPU time", "", "", f"{build['cpu_ratio']:.2f}")
        inc = build["incremental"]
        row(
            "  incremental rebuild after one edit",
            f"{inc['seconds']:.2f} s",
            f"{inc['texts_embedded']} texts, {inc['sections_embedded']} section",
        )
    elif build:
        row("build", "error: " + build["error"][:60])
    real = results.get("realtext")
    if real and "error" not in real:
        limit = real["limit"]
        row(
            f"real text: limit ({real['sections']} sections, {limit['texts']} pieces)",
            f"{limit['seconds']:.1f} s",
            f"{limit['word_pieces_per_s']:,.0f} word pieces/s",
            "1.00",
        )
        for scheme in ("sentences", "averaged", "pooled"):
            if scheme in real:
                got = real[scheme]
                row(
                    f"  full build, {scheme} chunking" + (" (default)" if scheme == CHUNKINGS[0] else ""),
                    f"{got['seconds']:.1f} s",
                    f"{got['word_pieces_per_s']:,.0f} word pieces/s",
                    f"{got['ratio']:.2f}",
                    f"<= {realtext.GOAL} {_goal(got['met'])}",
                )
    elif real:
        row("real text", "error: " + real["error"][:60])
    if srv and "error" not in srv:
        lines += [
            "",
            f"{'server clients':<16}{'q/s':>8}{'p50 ms':>10}{'p95 ms':>10}{'answered':>10}{'errors':>8}"
            f"{'echo q/s':>10}{'echo p50':>10}{'echo p95':>10}",
        ]
        echo = {row["clients"]: row for row in srv["throughput"].get("echo_levels", [])}
        for level in srv["throughput"]["levels"]:
            floor = echo.get(level["clients"], {})
            lines.append(
                f"{level['clients']:<16}{_fmt(level.get('questions_per_s'), '.1f'):>8}{_fmt(level.get('p50_ms'), '.0f'):>10}"
                f"{_fmt(level.get('p95_ms'), '.0f'):>10}{level['answered']:>10}{level['errors']:>8}"
                f"{_fmt(floor.get('questions_per_s'), '.1f'):>10}{_fmt(floor.get('p50_ms'), '.0f'):>10}"
                f"{_fmt(floor.get('p95_ms'), '.0f'):>10}"
            )
        ratios = srv["throughput"].get("ratios", {})
        if ratios:
            top = max(ratios, key=int)
            got = ratios[top]
            lines.append(
                f"  q/s / echo q/s (median of {srv['throughput'].get('rounds')} paired rounds): "
                + ", ".join(f"{c} clients {_fmt(r, '.2f')}" for c, r in ratios.items())
                + f"; goal at {top} clients >= {server.GOAL_RATIO} {_goal(got is not None and got >= server.GOAL_RATIO)}"
            )
        cpu = [
            f"{p['clients']} clients {_fmt(p.get('server_cpu_ms_per_q'), '.1f')} vs {_fmt(e.get('server_cpu_ms_per_q'), '.1f')}"
            for p, e in zip(srv["throughput"]["levels"], srv["throughput"].get("echo_levels", []), strict=False)
            if p.get("server_cpu_ms_per_q") is not None
        ]
        if cpu:
            lines.append("  server CPU ms per question, product vs echo (median of rounds): " + ", ".join(cpu))
        lines.append("  echo: a ChatInterface that only echoes, same queue settings (Gradio's own floor here); "
                     f"sessions: {srv['throughput'].get('client', 'gradio')} clients.")
    scale = results.get("scale")
    if scale:
        lines += [
            "",
            f"{'sections':>9}{'texts':>9}{'vectors':>8}{'FAISS':>15}{'build s':>11}{'size MB':>9}{'peak RAM MB':>13}"
            f"{'search p50/p95 ms':>19}{'flat p50':>9}{'recall@10':>10}{'ask p50/p95 ms':>17}{'load s':>7}{'1st ask s':>10}"
            f"{'incr s':>8}{'re-embedded':>13}",
        ]
        for point in scale:
            if "error" in point:
                lines.append(f"{point['sections']:>9}  error: {point['error'][:100]}")
                continue
            q = point["query"]
            faiss_info = point.get("faiss", {})
            kind = "Flat" if faiss_info.get("type") == "IndexFlatIP" else f"IVF{faiss_info.get('nlist')}/{faiss_info.get('nprobe')}"
            build_s = _fmt(point["build_s"], ".1f") + ("" if point["build_measured"] else " est")
            inc = point["incremental"]
            ram = max(point.get("peak_rss_mb", 0), q.get("query_peak_rss_mb", 0))
            lines.append(
                f"{point['sections']:>9}{point['texts']:>9}{point['vectors']:>8}{kind:>15}{build_s:>11}"
                f"{point['index_mb']:>9.0f}{ram:>13.0f}"
                f"{q['search']['p50_ms']:>10.2f} / {q['search']['p95_ms']:<6.2f}"
                f"{_fmt(q.get('flat_search', {}).get('p50_ms'), '.1f'):>9}{q['recall_at_10']:>10.3f}"
                f"{q['ask']['p50_ms']:>9.0f} / {q['ask']['p95_ms']:<5.0f}"
                f"{_fmt(q.get('load_s'), '.2f'):>7}{_fmt(q.get('first_answer_s'), '.2f'):>10}{inc['seconds']:>8.1f}"
                f"{inc['texts_embedded']:>5} of {inc['edited_section_texts']:<4}"
            )
        largest = max((p for p in scale if "error" not in p), key=lambda p: p["sections"], default=None)
        if largest is not None:
            q, inc, vs = largest["query"], largest["incremental"], largest["query"].get("ask_vs_limit")
            lines.append(
                f"  at {largest['sections']:,} sections: first answer {_fmt(q.get('first_answer_s'), '.2f')} s "
                f"(goal <= {scale_step.FIRST_ANSWER_GOAL_S:g} "
                f"{_goal(q.get('first_answer_s') is not None and q['first_answer_s'] <= scale_step.FIRST_ANSWER_GOAL_S)}); "
                f"one-edit rebuild {inc['seconds']:.1f} s (goal <= {scale_step.INCREMENTAL_GOAL_S:g} "
                f"{_goal(inc['seconds'] <= scale_step.INCREMENTAL_GOAL_S)})"
            )
            if vs:
                lines.append(
                    f"  warm ask() with a real question embedding p50 {vs['ask']['p50_ms']:.1f} ms vs one encode + "
                    f"search {vs['encode_and_search']['p50_ms']:.1f} ms: {vs['ratio_p50']:.2f} "
                    f"(goal <= {scale_step.ASK_RATIO_GOAL:g} {_goal(vs['met'])})"
                )
        lines.append(
            "  build 'est': proxy vectors; build measured without embedding + texts / real-model rate (see results.json)."
        )
        lines.append("  recall@10: approximate index vs exact Flat on the same 200 questions (goal >= 0.95).")
        lines.append("  load s: load_index; 1st ask s: a new Assistant's first ask() (loads the index again), model loaded.")
    lines.append(f"\ntotal {results.get('duration_s', 0):.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"), help="JSON file to write")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="the article's corpus folder")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--sizes", default="1000,10000,100000", help="scale points, in sections")
    parser.add_argument("--real-max", type=int, default=1000, help="largest scale point embedded with the real model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--clients", default="1,8,32", help="server phase: concurrent client sessions per level")
    parser.add_argument("--server-rounds", type=int, default=3, help="server phase: paired rounds per level")
    parser.add_argument("--server-client", choices=server.CLIENTS, default="rest",
                        help="server phase: light REST sessions (default) or one gradio_client per session")
    parser.add_argument("--quick", action="store_true", help="a small, fast run (smoke test, not figures)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("httpx", "gradio_client", "sentence_transformers", "alliance_qa.build", "alliance_qa.load", "alliance_qa.store", "alliance_qa.assistant"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}: choose from {', '.join(PHASES)}")
    if not args.corpus.is_dir():
        parser.error(f"corpus folder {args.corpus} does not exist: run from the repository root or pass --corpus")
    options: dict[str, Any] = {
        "sizes": [int(s) for s in args.sizes.split(",") if s.strip()],
        "real_max": args.real_max,
        "repeats": args.repeats,
        "question_count": args.questions,
        "server_levels": tuple(int(c) for c in args.clients.split(",") if c.strip()),
        "server_rounds": args.server_rounds,
        "server_client": args.server_client,
    }
    if args.quick:
        options.update(sizes=[200, 4000], real_max=200, repeats=1, question_count=40, build_sections=60)
        options.update(realtext_chapters=2)
        options.update(server_levels=(1, 4), server_rounds=1)
    work = Path(tempfile.mkdtemp(prefix="alliance-qa-bench-"))
    try:
        results = run(corpus_dir=args.corpus, work=work, phases=phases, **options)
    finally:
        if args.keep:
            log.info("bench: scratch folder kept at %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["command"] = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(table(results) + f"\n\nwrote {args.out}\n")
    failed = [name for name in PHASES if isinstance(results.get(name), dict) and "error" in results[name]]
    failed += [f"scale {p['sections']}" for p in results.get("scale", []) if "error" in p]
    if failed:
        sys.stderr.write(f"bench: phases failed: {', '.join(failed)} (details in {args.out})\n")
        return 1
    return 0
