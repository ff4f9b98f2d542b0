"""Hybrid lookup over the mcp-errors collection (Milvus Lite in a temp dir, real embeddings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.known_errors import ErrorIndex, load_kb, parse_templates_csv, rrf_fuse
from agent.settings import Settings

NUMPY_TRACEBACK = """\
Traceback (most recent call last):
  File "/home/me/proj/train.py", line 41, in <module>
    main()
  File "/home/me/proj/train.py", line 33, in main
    features = np.asarray(rows, dtype=np.float)
  File "/home/me/.venv/lib/python3.11/site-packages/numpy/__init__.py", line 324, in __getattr__
    raise AttributeError(__former_attrs__[attr])
AttributeError: module 'numpy' has no attribute 'float'.
`np.float` was a deprecated alias for the builtin `float`. To avoid this error in existing code, \
use `float` by itself. Doing this will not modify any behavior and is safe. If you specifically \
wanted the numpy scalar type, use `np.float64` here.
The aliases was originally deprecated in NumPy 1.20; for more details and guidance see the \
original release note at:
    https://numpy.org/devdocs/release/1.20.0-notes.html#deprecations
"""


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrorIndex]:
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("errors"),
        cache_dir=tmp_path_factory.getbasetemp() / "shared-cache",  # embeddings, across modules
    )
    with ErrorIndex.open(settings) as idx:
        yield idx


def test_seeding_loads_the_starter_kb_once(index: ErrorIndex) -> None:
    assert index.count() >= 80
    assert index.sync(load_kb()) == 0  # nothing changed: nothing re-embedded
    info = index.stats()
    assert info["entries"] == index.count() and info["bm25"] is True


def test_python_traceback_returns_the_right_entry_first(index: ErrorIndex) -> None:
    matches = index.lookup(NUMPY_TRACEBACK, top_k=3)
    best = matches[0]
    assert best.id == "numpy-float-alias-removed"
    # a trace that a signature matched is ranked without the dense signal (it costs an
    # embedding and a search, and changes no ranking on the benchmarks)
    assert best.matched_by == ["signature", "bm25"]
    assert best.signals["signature"].rank == 1
    assert best.matched_text is not None and "has no attribute 'float'" in best.matched_text
    assert "np.float64" in best.entry.fix
    assert best.score > matches[1].score


def test_a_long_log_is_reduced_and_the_error_inside_is_found(index: ErrorIndex) -> None:
    noise = [f"2024-05-01 10:00:{i % 60:02d} INFO engine: step {i} done" for i in range(400)]
    oom = (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a "
        "total capacity of 23.64 GiB of which 812.00 MiB is free."
    )
    log = "\n".join(
        [
            *noise[:200],
            "Traceback (most recent call last):",
            '  File "/srv/serve.py", line 9, in <module>',
            "    model.to('cuda')",
            oom,
            *noise[200:],
        ]
    )
    [best, *_] = index.lookup(log, top_k=5)
    assert best.id == "torch-cuda-out-of-memory"
    assert "signature" in best.matched_by


def test_a_question_without_a_signature_is_answered_by_retrieval(index: ErrorIndex) -> None:
    matches = index.lookup("the GPU ran out of memory while allocating a tensor", top_k=5)
    assert matches and all("signature" not in m.matched_by for m in matches)
    assert "torch-cuda-out-of-memory" in [m.id for m in matches]
    assert any("dense" in m.matched_by for m in matches)  # free text: the paraphrase signal


def test_single_signals_report_only_themselves(index: ErrorIndex) -> None:
    text = "ERROR 2002 (HY000): Can't connect to local MySQL server through socket '/tmp/m.sock'"
    for signal in ("signature", "bm25", "dense"):
        [best, *_] = index.lookup(text, top_k=3, signals=[signal])
        assert best.id == "mysql-cannot-connect-socket", signal
        assert best.matched_by == [signal]


def test_imported_templates_rank_the_most_specific_first(index: ErrorIndex) -> None:
    csv = "EventId,EventTemplate\nE1,Served block blk_<*> to /<*>\nE2,<*> block <*>\nE3,<*>\n"
    entries = parse_templates_csv(csv, prefix="demo", source="demo.csv")
    assert index.upsert(entries) == 3
    try:
        matches = index.lookup(
            "Served block blk_-35446 to /10.0.0.1", top_k=3, signals=["signature"]
        )
        assert [m.id for m in matches] == ["demo-E1", "demo-E2", "demo-E3"]
        fused = index.lookup("Served block blk_-35446 to /10.0.0.1", top_k=1)
        assert fused[0].id == "demo-E1"
    finally:
        index.delete([e.id for e in entries])
    assert index.get("demo-E1") is None


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="top_k"):
        ErrorIndex.lookup_many(None, ["x"], top_k=0)  # type: ignore[arg-type]


def test_rrf_weights_let_a_signature_outrank_agreeing_retrievers() -> None:
    fused = rrf_fuse(
        {"signature": [("a", 10.0)], "bm25": [("b", 5.0), ("a", 4.0)], "dense": [("b", 0.9)]},
        {"signature": 3.0, "bm25": 1.0, "dense": 1.0},
    )
    assert [f[0] for f in fused] == ["a", "b"]
    assert fused[0][2]["bm25"].rank == 2


def test_rrf_ties_go_to_the_more_literal_signal() -> None:
    rankings = {"dense": [("b", 0.9), ("a", 0.8)], "bm25": [("a", 7.0), ("b", 6.0)]}
    fused = rrf_fuse(rankings, {"bm25": 1.0, "dense": 1.0})
    assert [f[0] for f in fused] == ["a", "b"]
    assert fused[0][1] == pytest.approx(fused[1][1])


def test_store_file_is_in_the_data_dir(index: ErrorIndex, tmp_path: Path) -> None:
    assert index.store.uri.endswith("errors.db")
    assert index.collection.name == "mcp-errors"
