"""The ``alliance-qa`` command line: a thin layer over :class:`~alliance_qa.assistant.Assistant`.

Every :class:`~alliance_qa.errors.AllianceQAError` becomes one line on stderr
and its exit code; heavy modules (the model, gradio) load only in the commands
that use them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from . import __version__
from .errors import AllianceQAError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn library errors and Ctrl-C into one line and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AllianceQAError as exc:
            click.echo(f"alliance-qa: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("alliance-qa: interrupted; the previous index is unchanged", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line, the traceback only with -v
            logging.getLogger(__name__).info("unexpected error", exc_info=True)
            click.echo(
                f"alliance-qa: internal error: {type(exc).__name__}: {exc} "
                "(run again with -v for the traceback, and please report it)",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _assistant(ctx: click.Context, corpus: Any = None, index: Any = None, **kwargs: Any) -> Any:
    """The assistant for the command line's settings; ``corpus`` and ``index`` replace the configured folders."""
    from .assistant import Assistant

    obj = ctx.find_root().params
    return Assistant(corpus or obj["corpus"], index or obj["index"], obj["model"], **kwargs)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--corpus", envvar="ALLIANCE_QA_CORPUS", type=click.Path(file_okay=False), help="Corpus folder [corpus/].")
@click.option("--index", envvar="ALLIANCE_QA_INDEX", type=click.Path(file_okay=False), help="Index folder [index/].")
@click.option("--model", envvar="ALLIANCE_QA_MODEL", help="Embedding model name or local path [all-MiniLM-L6-v2].")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (loading, building).")
@click.version_option(__version__, prog_name="alliance-qa")
def main(corpus: str | None, index: str | None, model: str | None, verbose: bool) -> None:
    """Ask questions about the documents in the corpus folder and get quoted, cited answers.

    `alliance-qa build` indexes the folder; `alliance-qa ask "What is this about?"` answers from it.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="alliance-qa: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option("--full", is_flag=True, help="Re-embed everything instead of reusing unchanged texts.")
@click.pass_context
@_friendly
def build(ctx: click.Context, full: bool) -> None:
    """Build or update the index from the corpus folder (incremental)."""
    report = _assistant(ctx).build(full=full)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--history", multiple=True, help="An earlier question in the conversation (repeatable).")
@click.pass_context
@_friendly
def ask(ctx: click.Context, question: str, as_json: bool, history: tuple[str, ...]) -> None:
    """Answer QUESTION with quotes from the documents and the sections they come from."""
    answer = _assistant(ctx).ask(question, history=list(history))
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    from .render import terminal

    click.echo(terminal(answer.text))
    if answer.notice:
        click.echo(f"\nnote: {answer.notice}", err=True)


@main.command()
@click.argument("question")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="How many sections.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
@_friendly
def search(ctx: click.Context, question: str, k: int, as_json: bool) -> None:
    """List the sections that best match QUESTION, best first."""
    hits = _assistant(ctx).search(question, k)
    if as_json:
        rows = [{"number": h.number, "title": h.title, "document": h.document, "score": h.score, "quote": h.quote}
                for h in hits]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(f"{rank}. {hit.label}  score {hit.score:.3f}\n   {hit.quote}")


@main.command(name="eval")
@click.option("--golden", "goldens", type=click.Path(dir_okay=False), multiple=True,
              help="A golden question set (JSONL; repeatable) [tests/golden.jsonl]. A format-2 set that names its "
                   "corpus is run on that corpus (in a temporary index) unless --corpus is given.")
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as JSON.")
@click.option("--holdout", is_flag=True, help="Also calibrate the cutoffs on half the set and score the other half.")
@click.pass_context
@_friendly
def eval_command(ctx: click.Context, goldens: tuple[str, ...], as_json: bool, holdout: bool) -> None:
    """Score the product and three baselines on golden sets, per corpus: top-1, MRR, recall@3, declines, follow-ups."""
    from pathlib import Path

    from . import evaluate  # the baselines load bm25s and embed raw sections: only here
    from .golden_corpus import corpus_for

    results = []
    for golden in goldens or (str(evaluate.DEFAULT_GOLDEN),):
        with corpus_for(Path(golden), ctx.find_root().params) as (corpus, index):
            assistant = _assistant(ctx, corpus, index)
            report = evaluate.run_eval(assistant, Path(golden))
            split = evaluate.holdout(assistant, Path(golden)) if holdout else None
        results.append((report, split))
    if as_json:
        out = []
        for report, split in results:
            data = report.to_dict()
            if split is not None:
                data["holdout"] = {"thresholds": vars(split[0]), "rows": [vars(r) for r in split[1:]]}
            out.append(data)
        click.echo(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False, indent=2))
        return
    for n, (report, split) in enumerate(results):
        click.echo(("\n" if n else "") + report.table())
        if split is not None:
            click.echo(f"\n{evaluate.holdout_table(*split)}")


@main.command()
@click.option("--host", envvar="ALLIANCE_QA_HOST", default="127.0.0.1", show_default=True,
              help="Address to listen on; loopback only unless you change it (env ALLIANCE_QA_HOST).")
@click.option("--port", envvar="ALLIANCE_QA_PORT", default=7860, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on (env ALLIANCE_QA_PORT).")
@click.option("--auth", envvar="ALLIANCE_QA_AUTH", metavar="USER:PASS", show_envvar=True,
              help="Require this login; prefer the env variable, which other users cannot see in `ps`.")
@click.option("--feedback-dir", envvar="ALLIANCE_QA_FEEDBACK_DIR", show_envvar=True, type=click.Path(file_okay=False),
              help="Append thumbs-up/down votes to feedback.jsonl in this folder (off when unset).")
@click.pass_context
@_friendly
def serve(ctx: click.Context, host: str, port: int, auth: str | None, feedback_dir: str | None) -> None:
    """Start the web chat (http://127.0.0.1:7860 by default) and print its URL."""
    from urllib.parse import urlsplit

    from . import guard, web  # gradio loads only here

    login = web.parse_auth(auth)
    exposed = guard.exposure_warning(host, login)
    if exposed:
        click.echo(f"alliance-qa: WARNING: {exposed}", err=True)
    click.echo("alliance-qa: loading the model and the index...", err=True)

    def announce(url: str) -> None:
        click.echo(f"alliance-qa: chat running at {url}" + ("  (login required)" if login else ""))
        other = guard.network_url(host, urlsplit(url).port or port)
        if other:
            click.echo(f"alliance-qa: from other machines: {other}")
        click.echo("alliance-qa: press Ctrl-C to stop", err=True)

    web.serve(_assistant(ctx), host, port, login, announce=announce, feedback_dir=feedback_dir)


if __name__ == "__main__":  # pragma: no cover
    main()
