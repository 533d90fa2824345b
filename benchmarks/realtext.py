"""Build speed on real long text against the every-word-once limit.

The text is a public-domain book (see ``benchmarks/texts/README.md``) turned
into a corpus of Markdown documents, one per chapter, each cut into numbered
sections of consecutive paragraphs (up to :data:`SECTION_WORDS` words), so that
many sections are longer than the model reads at once, as in real documents.

The *limit* is the least any build can do: every section's body cut into
consecutive :data:`LIMIT_WORDS`-word pieces, each put through the bare model
once (``SentenceTransformer.encode``).  A full build of each chunking scheme is
timed against it, interleaved, and reported as texts/s and word pieces/s for
both sides; the ratio is build seconds / limit seconds (goal: <= 1.3).

``python -m benchmarks.realtext [--rounds N] [--max-chapters N]`` prints the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .measure import median, torch_threads

TEXTS = Path(__file__).resolve().parent / "texts"
BOOK = TEXTS / "pg16351-macdowell-critical-and-historical-essays.txt"
#: A section holds consecutive paragraphs up to this many words (one longer paragraph is a section of its own).
SECTION_WORDS = 450
#: The every-word-once limit cuts each section into consecutive pieces of this many words.
LIMIT_WORDS = 180
#: The build ratio the issue asks for: build seconds <= this x limit seconds.
GOAL = 1.3
_ROMAN = re.compile(r"^[IVXL]+$")


def gutenberg_body(text: str) -> str:
    """The book between Project Gutenberg's START and END lines."""
    start = text.find("*** START OF")
    end = text.find("*** END OF")
    body = text[text.index("\n", start) + 1 if start >= 0 else 0 : end if end >= 0 else len(text)]
    return body.replace("\r\n", "\n")


def chapters(text: str) -> list[tuple[str, list[str]]]:
    """``[(title, paragraphs)]``: a chapter starts at a line holding only a Roman numeral, then its title lines."""
    lines = gutenberg_body(text).split("\n")
    found: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        if _ROMAN.match(lines[i].strip()) and i + 2 < len(lines) and not lines[i + 1].strip():
            j = i + 2
            title_lines = []
            while j < len(lines) and lines[j].strip():
                title_lines.append(lines[j].strip())
                j += 1
            paragraphs: list[str] = []
            current: list[str] = []
            j += 1
            while j < len(lines) and not (_ROMAN.match(lines[j].strip()) and j + 1 < len(lines) and not lines[j + 1].strip()):
                if lines[j].strip():
                    current.append(lines[j].strip())
                elif current:
                    paragraphs.append(" ".join(current))
                    current = []
                j += 1
            if current:
                paragraphs.append(" ".join(current))
            title = " ".join(title_lines).title()
            if paragraphs and title:
                found.append((title, paragraphs))
            i = j
        else:
            i += 1
    return found


def write_corpus(folder: Path, *, max_chapters: int | None = None, book: Path = BOOK) -> int:
    """Write the book as Markdown documents under ``folder``; return the number of sections."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for n, (title, paragraphs) in enumerate(chapters(book.read_text(encoding="latin-1"))[:max_chapters], 1):
        parts: list[list[str]] = [[]]
        for paragraph in paragraphs:
            if parts[-1] and sum(len(p.split()) for p in parts[-1]) + len(paragraph.split()) > SECTION_WORDS:
                parts.append([])
            parts[-1].append(paragraph)
        out = [f"# {title}", ""]
        for k, part in enumerate(parts, 1):
            out += [f"## {k}. {title}, part {k}", "", "\n\n".join(part), ""]
        (folder / f"{n:02d}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')[:40]}.md").write_text(
            "\n".join(out), encoding="utf-8"
        )
        count += len(parts)
    return count


def limit_pieces(corpus: Path) -> list[str]:
    """Every section's embedded body cut into consecutive :data:`LIMIT_WORDS`-word pieces."""
    from alliance_qa.corpus import read_corpus

    sections, _ = read_corpus(corpus)
    pieces = []
    for s in sections:
        body = s.text if s.number is None or not s.title else f"{s.title}. {s.text}"
        words = body.split()
        pieces += [" ".join(words[i : i + LIMIT_WORDS]) for i in range(0, len(words), LIMIT_WORDS)]
    return pieces


def build_ratio(work: Path, embedder: Any, *, rounds: int = 2, max_chapters: int | None = None,
                chunkings: tuple[str, ...] = ("sentences", "averaged", "pooled")) -> dict[str, Any]:
    """Full builds of the real-text corpus per chunking scheme against the every-word-once limit, interleaved."""
    from alliance_qa.build import build_index
    from alliance_qa.calibrate import forget_bank_vectors

    corpus = work / "corpus"
    sections = write_corpus(corpus, max_chapters=max_chapters)
    pieces = limit_pieces(corpus)
    model = embedder.model
    tokens = sum(min(n + 2, embedder.max_tokens) for n in embedder.count_tokens(pieces))
    words = sum(len(p.split()) for p in pieces)
    model.encode(pieces[:32], show_progress_bar=False)  # warm the kernels

    def limit() -> float:
        started = time.perf_counter()
        model.encode(pieces, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - started

    reports: dict[str, Any] = {}

    def build(chunking: str) -> Callable[[], float]:
        def run() -> float:
            folder = work / f"index-{chunking}"
            shutil.rmtree(folder, ignore_errors=True)
            forget_bank_vectors()  # a first build: the question bank is embedded as in a new process
            started = time.perf_counter()
            reports[chunking] = build_index(corpus, folder, embedder, model=embedder.name, full=True, chunking=chunking)
            return time.perf_counter() - started

        return run

    times: dict[str, list[float]] = {"limit": [], **{c: [] for c in chunkings}}
    steps: list[tuple[str, Callable[[], float]]] = [("limit", limit), *((c, build(c)) for c in chunkings)]
    for rnd in range(rounds):
        for name, step in steps if rnd % 2 == 0 else steps[::-1]:
            times[name].append(step())
    limit_s = median(times["limit"])
    out: dict[str, Any] = {
        "text": BOOK.name,
        "sections": sections,
        "words": words,
        "limit": {
            "what": f"each section's body in consecutive {LIMIT_WORDS}-word pieces, bare SentenceTransformer.encode",
            "texts": len(pieces),
            "word_pieces": tokens,
            "seconds": round(limit_s, 3),
            "texts_per_s": round(len(pieces) / limit_s, 1),
            "word_pieces_per_s": round(tokens / limit_s, 1),
            "rounds_s": [round(x, 3) for x in times["limit"]],
        },
        "torch_threads": torch_threads(),
        "goal": f"build_s <= {GOAL} x limit_s",
    }
    for chunking in chunkings:
        seconds = median(times[chunking])
        report = reports[chunking]
        out[chunking] = {
            "units": report.units,
            "seconds": round(seconds, 3),
            "sections_per_s": round(sections / seconds, 1),
            "word_pieces_per_s": round(tokens / seconds, 1),
            "units_per_s": round(report.units / seconds, 1),
            "ratio": round(seconds / limit_s, 3),
            "met": seconds / limit_s <= GOAL,
            "rounds_s": [round(x, 3) for x in times[chunking]],
            "warnings": list(report.warnings),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Run :func:`build_ratio` and print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.realtext", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-chapters", type=int, default=None)
    parser.add_argument("--chunkings", default="sentences,averaged,pooled")
    options = parser.parse_args(argv)
    from alliance_qa.embed import load_embedder

    with tempfile.TemporaryDirectory(prefix="alliance-qa-realtext-") as tmp:
        result = build_ratio(Path(tmp), load_embedder(), rounds=options.rounds, max_chapters=options.max_chapters,
                             chunkings=tuple(options.chunkings.split(",")))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
