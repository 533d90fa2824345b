"""Quieter build faults: a damaged model, disk full inside FAISS, an edit made while a build runs.

Every test starts from a copy of one build of the article; plumbing, so the fake embedder
(``fake_model``) embeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from alliance_qa.assistant import Assistant
from alliance_qa.errors import ModelError
from fakeembed import NAME as FAKE_MODEL
from fakeembed import HashEmbedder
from robustutil import PORTS, current, edit, run_cli

EDITED = "The documents have been edited since the index was built; run `alliance-qa build` to update answers."

pytestmark = pytest.mark.usefixtures("fake_model")


class DamagedModel:
    """An embedder whose vectors of texts containing ``poison`` come back as ``value``."""

    def __init__(self, real: HashEmbedder, poison: str, value: float) -> None:
        self.real, self.poison, self.value = real, poison, value
        self.dimension = real.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.real.encode(list(texts))
        for i, text in enumerate(texts):
            if self.poison in text:
                vectors[i] = self.value
        return vectors


@pytest.mark.parametrize("value", [float("nan"), 0.0], ids=["nan", "zero"])
def test_nan_or_zero_vectors_fail_the_build_and_keep_the_index(
    value: float, good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, before = good
    edit(corpus_dir, "Rajin", "Sonbong")
    qa = Assistant(corpus_dir, index_dir, embedder=DamagedModel(fake_embedder, "Sonbong", value), auto_build=False)  # type: ignore[arg-type]
    with pytest.raises(ModelError) as info:
        qa.build()
    message = str(info.value)
    assert message.startswith(f"embedding model '{FAKE_MODEL}' gave 1 of 1 vectors that are NaN or of zero length")
    assert message.endswith("its weights look damaged; the current index is unchanged. Reinstall the model or set "
                            "ALLIANCE_QA_MODEL to a working one, then run `alliance-qa build --full`")
    assert info.value.exit_code == 7 and "\n" not in message
    assert current(index_dir) == before and not list((index_dir / "builds").glob(".tmp-*"))


def test_disk_full_while_faiss_writes_is_exit_5_in_one_line(
    good: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus_dir, index_dir, before = good
    edit(corpus_dir, "Rajin", "Sonbong")
    real_write = faiss.write_index
    monkeypatch.setattr(faiss, "write_index", lambda index, path: real_write(index, "/dev/full"))  # a real ENOSPC
    code, out, err = run_cli(corpus_dir, index_dir, "build")
    assert (code, out) == (5, "")
    assert err == (
        f"alliance-qa: error: cannot write the index to {index_dir} (No space left on device); the previous index "
        "is unchanged. Fix the folder's permissions or free some disk space, then run `alliance-qa build`\n"
    )
    assert current(index_dir) == before and not list((index_dir / "builds").glob(".tmp-*"))


class EditingModel:
    """An embedder that, the first time it embeds, edits the corpus (as a user saving a file mid-build)."""

    def __init__(self, real: HashEmbedder, corpus_dir: Path) -> None:
        self.real, self.corpus_dir, self.edited = real, corpus_dir, False
        self.dimension = real.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self.edited:
            self.edited = True
            edit(self.corpus_dir, "Sonbong", "Chongjin")
        return self.real.encode(list(texts))


def test_an_edit_made_during_a_build_is_reported_and_picked_up_next(
    good: tuple[Path, Path, Path], fake_embedder: HashEmbedder
) -> None:
    corpus_dir, index_dir, _ = good
    edit(corpus_dir, "Rajin", "Sonbong")
    served = Assistant(corpus_dir, index_dir, embedder=EditingModel(fake_embedder, corpus_dir), auto_build=False)  # type: ignore[arg-type]
    served.build()
    answer = served.ask(PORTS)
    assert "Sonbong" in answer.citations[0].section_text  # the build matches the corpus it read
    assert answer.notice == EDITED  # and the server knows the corpus changed since
    served.build()
    answer = served.ask(PORTS)
    assert "Chongjin" in answer.citations[0].section_text and answer.notice is None
