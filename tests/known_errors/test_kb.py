"""The known-error KB: the starter KB is complete, and invalid files name file, entry, field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.errors import KnowledgeBaseError
from agent.known_errors import KnownError, dump_kb_yaml, load_kb, load_kb_file, parse_kb_text

STARTER = load_kb()


def test_starter_kb_has_at_least_80_entries_across_domains() -> None:
    assert len(STARTER) >= 80
    tags = {t for e in STARTER for t in e.tags}
    for domain in (
        "vllm",
        "pytorch",
        "transformers",
        "numpy",
        "milvus",
        "python",
        "linux",
        "http",
        "database",
        "java",
    ):
        assert domain in tags, f"no entry tagged {domain}"


@pytest.mark.parametrize("entry", list(STARTER), ids=lambda e: e.id)
def test_every_starter_entry_is_complete(entry: KnownError) -> None:
    assert entry.title.strip()
    assert len(entry.cause) >= 40, "cause must explain, not restate"
    assert len(entry.fix) >= 30, "fix must say what to do"
    assert entry.examples and all(x.strip() for x in entry.examples)
    assert entry.tags
    assert entry.signature, "starter entries are recognised by a signature"
    pattern = re.compile(entry.signature)
    for example in entry.examples:
        assert pattern.search(example), f"signature misses its own example: {example[:80]}"


def test_starter_ids_are_unique_and_signatures_do_not_claim_other_entries() -> None:
    ids = [e.id for e in STARTER]
    assert len(ids) == len(set(ids))
    for entry in STARTER:
        assert entry.pattern is not None
        for other in STARTER:
            if other.id != entry.id:
                hits = [x for x in other.examples if entry.pattern.search(x)]
                assert not hits, f"{entry.id}'s signature matches {other.id}'s example"


@pytest.mark.parametrize(
    ("needle", "entry_id"),
    [
        ("module 'numpy' has no attribute 'float'", "numpy-float-alias-removed"),
        ("PY_SSIZE_T_CLEAN macro must be defined for '#' formats", "python-py-ssize-t-clean"),
        (
            "'aimv2' is already used by a Transformers config",
            "transformers-autoconfig-register-duplicate",
        ),
        ("expandable_segments:True", "torch-cuda-out-of-memory"),
        (
            "A module that was compiled using NumPy 1.x cannot be run in",
            "numpy2-abi-compiled-extension",
        ),
        ('"auto" tool choice requires --enable-auto-tool-choice', "vllm-auto-tool-choice-flags"),
        ("BackendCompilerFailed: backend='<vllm", "vllm-torch-compile-failure"),
        ("Fail connecting to server on localhost:19530", "milvus-connection-refused"),
        ("collection not loaded", "milvus-collection-not-loaded"),
    ],
)
def test_the_pitfalls_the_issue_names_are_covered(needle: str, entry_id: str) -> None:
    entry = STARTER.get(entry_id)
    assert entry is not None
    assert any(needle in x for x in entry.examples)


def test_the_fixes_the_issue_names_are_in_the_entries() -> None:
    def fix(entry_id: str) -> str:
        entry = STARTER.get(entry_id)
        assert entry is not None
        return entry.fix

    assert "np.float64" in fix("numpy-float-alias-removed")
    assert "#define PY_SSIZE_T_CLEAN" in fix("python-py-ssize-t-clean")
    assert "--enforce-eager" in fix("vllm-torch-compile-failure")
    assert "--max-model-len" in fix("torch-cuda-out-of-memory")
    assert "expandable_segments" in fix("torch-cuda-out-of-memory")
    assert "load_collection" in fix("milvus-collection-not-loaded")
    assert "--tool-call-parser" in fix("vllm-auto-tool-choice-flags")


def test_yaml_round_trip(tmp_path: Path) -> None:
    entries = list(STARTER)[:5]
    path = tmp_path / "kb.yaml"
    path.write_text(dump_kb_yaml(entries, domain="mixed"), encoding="utf-8")
    assert load_kb_file(path) == entries


GOOD = """
domain: demo
entries:
  - id: demo-one
    title: Demo
    signature: 'DemoError: \\w+'
    examples: ['DemoError: boom']
    cause: A demo cause long enough.
    fix: A demo fix.
"""


def test_a_minimal_file_loads() -> None:
    [entry] = parse_kb_text(GOOD, source="demo.yaml")
    assert entry.id == "demo-one"
    assert entry.tags == [] and entry.references == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("signature: 'DemoError: \\w+'", "signature: 'DemoError: ('"),
            r"demo\.yaml: entry #1 \(id 'demo-one'\): field 'signature': .*regex does not compile",
        ),
        (
            GOOD.replace("signature: 'DemoError: \\w+'", "signature: 'OtherError'"),
            r"entry #1 \(id 'demo-one'\): field 'signature': regex matches none",
        ),
        (
            GOOD.replace("    cause: A demo cause long enough.\n", ""),
            r"entry #1 \(id 'demo-one'\): field 'cause': Field required",
        ),
        (
            GOOD.replace("fix: A demo fix.", "fix: ''"),
            r"field 'fix': String should have at least 1 character",
        ),
        (
            GOOD.replace("examples: ['DemoError: boom']", "examples: []"),
            r"field 'examples': List should have at least 1 item",
        ),
        (GOOD.replace("id: demo-one", "id: 'bad id!'"), r"entry #1 \(id 'bad id!'\): field 'id'"),
        (GOOD + "    colour: red\n", r"field 'colour': Extra inputs are not permitted"),
        ("entries: {a: 1}", r"demo\.yaml: 'entries' must be a list"),
        ("entries: [1]", r"entry #1: must be a mapping"),
        ("domain: x\nentries: []\nextra: 1", r"unexpected top-level key"),
        ("entries: [\n", r"demo\.yaml: not valid YAML"),
    ],
)
def test_invalid_files_name_file_entry_and_field(text: str, expected: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=expected):
        parse_kb_text(text, source="demo.yaml")


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"b\.yaml: entry id 'demo-one': duplicate id"):
        load_kb([tmp_path])


def test_unreadable_file_is_a_kb_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="cannot read"):
        load_kb_file(tmp_path / "missing.yaml")
