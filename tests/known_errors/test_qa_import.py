"""Growing the KB from resolved question/answer pairs, without duplicates (real Milvus Lite,
real embeddings, the starter KB seeded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.errors import KnowledgeBaseError
from agent.known_errors import ErrorIndex, load_kb, parse_qa_jsonl, plan_qa_import
from agent.known_errors.qa_import import QA_TAG
from agent.settings import Settings
from tests.known_errors.test_lookup import NUMPY_TRACEBACK


def java_trace(order_id: int, line: int) -> str:
    return (
        f"java.lang.IllegalStateException: order {order_id} already settled\n"
        f"\tat com.shop.billing.Ledger.settle(Ledger.java:{line})\n"
        "\tat com.shop.billing.CheckoutService.pay(CheckoutService.java:88)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
    )


PAIRS = [
    {  # a new error
        "trace": java_trace(1001, 57),
        "cause": "The payment webhook is delivered twice and both deliveries settle the order.",
        "fix": "Make Ledger.settle idempotent: check the settlement id before writing.",
        "url": "https://tracker.example/SHOP-12",
        "comments": 4,  # other export fields are ignored
    },
    {  # the same error in another run: another order id -> already known
        "text": java_trace(2002, 57),
        "cause": "Duplicate webhook.",
        "fix": "Idempotency.",
    },
    {  # an error the starter KB's signature recognises -> one more example of that entry
        "log": NUMPY_TRACEBACK.replace("train.py", "features.py"),
        "cause": "Someone's explanation of np.float.",
        "fix": "Use float.",
        "url": "https://tracker.example/ML-7",
    },
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.load(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path_factory.getbasetemp() / "shared-cache",  # embeddings, across modules
    )


@pytest.fixture
def index(settings: Settings) -> Iterator[ErrorIndex]:
    with ErrorIndex.open(settings) as idx:
        yield idx


def test_new_errors_are_added_repeats_skipped_and_known_ones_extended(
    index: ErrorIndex, tmp_path: Path
) -> None:
    pairs = parse_qa_jsonl(write_jsonl(tmp_path / "qa.jsonl", PAIRS).read_text(), source="qa")
    before = index.count()
    numpy_before = index.get("numpy-float-alias-removed")
    assert numpy_before is not None

    plan = plan_qa_import(index, pairs, prefix="shop")

    actions = [(d.line, d.action) for d in plan.decisions]
    assert actions == [(1, "add"), (2, "skip"), (3, "merge")]
    added = plan.decisions[0].entry_id
    assert added.startswith("shop-") and plan.decisions[1].entry_id == added
    assert plan.decisions[2].entry_id == "numpy-float-alias-removed"
    by_id = {e.id: e for e in plan.entries}
    new = by_id[added]
    assert new.cause == PAIRS[0]["cause"] and new.fix == PAIRS[0]["fix"]
    assert new.title == "java.lang.IllegalStateException: order 1001 already settled"
    assert new.references == ["https://tracker.example/SHOP-12"] and QA_TAG in new.tags
    merged = by_id["numpy-float-alias-removed"]
    assert merged.cause == numpy_before.cause  # the curated explanation stays
    assert len(merged.examples) == len(numpy_before.examples) + 1
    assert "features.py" in merged.examples[-1]
    assert "https://tracker.example/ML-7" in merged.references

    assert index.count() == before  # planning writes nothing
    index.upsert(plan.entries)
    assert index.count() == before + 1

    # the new entry is found from a trace of the same error it has never seen
    found = index.lookup(java_trace(3003, 61), top_k=3)
    assert found[0].id == added and "trace" in found[0].matched_by

    # importing the same file again adds nothing
    again = plan_qa_import(index, pairs, prefix="shop")
    assert [d.action for d in again.decisions] == ["skip", "skip", "skip"]
    assert again.entries == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: must be a JSON object"),
        ('{"cause": "c", "fix": "f"}', "line 2: field 'text': missing"),
        ('{"text": "E: boom", "cause": "", "fix": "f"}', "line 2: field 'cause': String should"),
        ('{"text": "E: boom", "cause": "c"}', "line 2: field 'fix': Field required"),
    ],
)
def test_a_bad_line_is_named_with_its_field(line: str, message: str) -> None:
    good = json.dumps({"text": "ValueError: x", "cause": "c", "fix": "f"})
    with pytest.raises(KnowledgeBaseError, match=message.replace("(", r"\(")):
        parse_qa_jsonl(f"{good}\n{line}\n", source="export.jsonl")


def test_an_empty_file_is_an_error() -> None:
    with pytest.raises(KnowledgeBaseError, match="no question/answer pairs"):
        parse_qa_jsonl("\n\n", source="export.jsonl")


def test_the_cli_dry_run_reports_and_writes_nothing_then_imports(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AGENT_CACHE_DIR", str(settings.cache_dir))
    path = write_jsonl(tmp_path / "resolved.jsonl", PAIRS)
    runner = CliRunner()

    dry = runner.invoke(app, ["errors", "import", str(path), "--dry-run"], terminal_width=200)
    assert dry.exit_code == 0, dry.output
    assert "3 pairs: 1 new, 1 merged into existing entries, 1 already known" in dry.output
    assert "line 3: merge -> numpy-float-alias-removed" in dry.output
    assert "dry run: nothing imported" in dry.output
    with ErrorIndex.open(settings) as idx:
        assert not any(QA_TAG in e.tags for e in idx.entries())

    real = runner.invoke(app, ["errors", "import", str(path)], terminal_width=200)
    assert real.exit_code == 0, real.output
    with ErrorIndex.open(settings) as idx:
        assert len([e for e in idx.entries() if QA_TAG in e.tags]) == 1

    twice = runner.invoke(app, ["errors", "import", str(path)], terminal_width=200)
    assert twice.exit_code == 0, twice.output
    assert "3 pairs: 0 new, 0 merged into existing entries, 3 already known" in twice.output


def test_a_shipped_update_keeps_what_the_kb_learned(index: ErrorIndex) -> None:
    shipped = load_kb().get("numpy-float-alias-removed")
    assert shipped is not None
    learned = shipped.model_copy(
        update={
            "examples": [
                *shipped.examples,
                "AttributeError: module 'numpy' has no attribute 'float' (seen in features.py)",
            ],
            "cause": "an older wording of the cause",
        }
    )
    index.upsert([learned])

    assert index.sync(load_kb()) == 1  # the shipped text differs: rewritten once
    stored = index.get(shipped.id)
    assert stored is not None and stored.cause == shipped.cause
    assert stored.examples[-1].endswith("(seen in features.py)")
    assert index.sync(load_kb()) == 0


def test_a_bug_in_own_code_is_not_folded_into_a_generic_entry(index: ErrorIndex) -> None:
    npe = (
        "java.lang.NullPointerException\n"
        "\tat com.shop.billing.Invoice.total(Invoice.java:42)\n"
        "\tat com.shop.billing.CheckoutService.pay(CheckoutService.java:88)\n"
    )
    assert index.lookup(npe, top_k=3)[0].id == "java-null-pointer"  # the generic signature
    pair = {"text": npe, "cause": "Invoice.total reads a discount that is null.", "fix": "f"}
    plan = plan_qa_import(index, parse_qa_jsonl(json.dumps(pair), source="qa"), prefix="shop")

    assert [d.action for d in plan.decisions] == ["add"]
    assert plan.entries[0].cause == pair["cause"]


def test_a_long_trace_imported_twice_is_known_the_second_time(index: ErrorIndex) -> None:
    frames = "".join(f"\tat com.shop.deep.L{i}.call(L{i}.java:{i + 10})\n" for i in range(200))
    long_trace = "java.lang.IllegalArgumentException: depth exceeded\n" + frames
    pair = json.dumps({"text": long_trace, "cause": "recursion", "fix": "limit depth"})
    first = plan_qa_import(index, parse_qa_jsonl(pair, source="qa"))
    assert [d.action for d in first.decisions] == ["add"]
    assert len(first.entries[0].examples[0]) < len(long_trace)  # stored clipped
    index.upsert(first.entries)

    again = plan_qa_import(index, parse_qa_jsonl(pair, source="qa"))
    assert [d.action for d in again.decisions] == ["skip"]
