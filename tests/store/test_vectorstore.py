"""The store layer on Milvus Lite (temp dir) and on a real Milvus 2.3.5 server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from agent.errors import SchemaMismatchError, StoreError, StoreLockedError
from agent.store import (
    CollectionSpec,
    FieldSpec,
    VectorStore,
    all_of,
    eq,
    has_any,
    literal,
    one_of,
)

FIELDS = (
    FieldSpec("source", "str", max_length=64),
    FieldSpec("position", "int"),
    FieldSpec("tags", "str_list"),
)
SPEC = CollectionSpec(name="things", dim=8, fields=FIELDS)


def unit(seed: int, dim: int = 8) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"r{i}",
            "vector": unit(i),
            "text": f"row {i} says hello",
            "source": "even" if i % 2 == 0 else "odd",
            "position": i,
            "tags": ["three"] if i % 3 == 0 else [],
        }
        for i in range(n)
    ]


def exercise_round_trip(store: VectorStore) -> None:
    coll = store.collection(SPEC)
    assert coll.count() == 0
    assert coll.search(unit(1), top_k=3) == []
    assert coll.upsert(rows(30)) == 30
    assert coll.count() == 30
    assert coll.count(eq("source", "odd")) == 15

    hit = coll.search(unit(7), top_k=1)[0]
    assert hit.id == "r7" and hit.score == pytest.approx(1.0, abs=1e-4)
    assert hit.text == "row 7 says hello"
    assert hit.fields == {"source": "odd", "position": 7, "tags": []}
    near = coll.search(unit(7), top_k=2, mode="dense", cosine=True)
    assert [h.fields["cosine"] for h in near] == pytest.approx([h.score for h in near], abs=1e-4)

    filtered = coll.search(
        unit(7), top_k=30, filter=all_of(eq("source", "even"), has_any("tags", ["three"]))
    )
    assert {h.id for h in filtered} == {"r0", "r6", "r12", "r18", "r24"}
    batch = coll.search_many([unit(3), unit(4)], top_k=1)
    assert [b[0].id for b in batch] == ["r3", "r4"]

    # upsert replaces by id; delete by filter reports the count
    coll.upsert([{**rows(1)[0], "text": "replaced"}])
    assert coll.get(["r0"])[0]["text"] == "replaced"
    assert coll.delete(filter=one_of("position", [1, 2, 3])) == 3
    assert coll.count() == 27


def test_lite_round_trip_filters_and_hybrid_flag(lite_uri: str) -> None:
    with VectorStore(lite_uri) as store:
        assert store.engine == "lite"
        assert store.bm25_supported
        exercise_round_trip(store)
        coll = store.collection(SPEC)  # second open: checked, not re-created
        assert coll.hybrid
        assert coll.count() == 27
    with VectorStore(lite_uri) as store:  # the data outlives the process' server
        assert store.collection(SPEC, create=False).count() == 27


def test_hybrid_search_finds_exact_keyword_on_lite(lite_uri: str) -> None:
    with VectorStore(lite_uri) as store:
        coll = store.collection(SPEC)
        coll.upsert([{**r, "text": f"ZX{i:03d}"} for i, r in enumerate(rows(20))])
        # the query vector points at r3, the words at r11: both make the fused top 2
        hits = coll.search(unit(3), text="ZX011", top_k=2)
        assert {h.id for h in hits} == {"r3", "r11"}
        dense = coll.search(unit(3), text="ZX011", top_k=2, mode="dense")
        assert "r11" not in {h.id for h in dense}
        # a fused score is a rank; cosine=True says how close in meaning each hit is
        fused = {h.id: h for h in coll.search(unit(3), text="ZX011", top_k=2, cosine=True)}
        assert fused["r3"].fields["cosine"] == pytest.approx(1.0, abs=1e-4)
        assert fused["r11"].fields["cosine"] == pytest.approx(float(unit(3) @ unit(11)), abs=1e-4)
        assert "vector" not in fused["r11"].fields and fused["r11"].score < 0.1


def test_string_literals_are_escaped(lite_uri: str) -> None:
    tricky = 'say "hi" \\ and ü'
    assert literal(tricky) == '"say \\"hi\\" \\\\ and ü"'
    with VectorStore(lite_uri) as store:
        coll = store.collection(SPEC)
        coll.upsert([{**rows(1)[0], "source": tricky}])
        assert coll.count(eq("source", tricky)) == 1
    with pytest.raises(StoreError, match="invalid field name"):
        eq("source == 1 or id", "x")


def test_schema_mismatch_is_an_error(lite_uri: str) -> None:
    with VectorStore(lite_uri) as store:
        store.collection(SPEC)
        with pytest.raises(SchemaMismatchError, match="dimension is 8, expected 16"):
            store.collection(CollectionSpec(name="things", dim=16, fields=FIELDS))
        retyped = (FieldSpec("source", "int"), *FIELDS[1:])
        with pytest.raises(SchemaMismatchError, match="'source' is VARCHAR, expected INT64"):
            store.collection(CollectionSpec(name="things", dim=8, fields=retyped))
        with pytest.raises(SchemaMismatchError, match="unexpected field 'tags'"):
            store.collection(CollectionSpec(name="things", dim=8, fields=FIELDS[:2]))


def test_bad_rows_and_uris_are_refused(lite_uri: str, tmp_path: object) -> None:
    with VectorStore(lite_uri) as store:
        coll = store.collection(SPEC)
        with pytest.raises(StoreError, match="may not have fields"):
            coll.upsert([{**rows(1)[0], "colour": "red"}])
        with pytest.raises(StoreError, match="has 3 dimensions, expected 8"):
            coll.upsert([{**rows(1)[0], "vector": [0.1, 0.2, 0.3]}])
        with pytest.raises(StoreError, match="does not exist"):
            store.collection(CollectionSpec(name="absent", dim=8), create=False)
    with pytest.raises(StoreError, match="must end in .db"):
        VectorStore(lite_uri.removesuffix(".db"))


_HOLDER = textwrap.dedent(
    """
    import sys
    from agent.store import VectorStore
    store = VectorStore(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


def test_locked_lite_file_names_the_fixes(lite_uri: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, lite_uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            VectorStore(lite_uri)
        message = str(info.value)
        assert "another process" in message
        assert "milvus-lite server" in message
        assert "AGENT_MILVUS_URI" in message
    finally:
        holder.communicate("\n", timeout=30)
    with VectorStore(lite_uri) as store:  # the lock went with the process
        assert store.list_collections() == []


def test_closing_the_store_releases_the_lock(lite_uri: str) -> None:
    store = VectorStore(lite_uri)
    store.close()
    probe = subprocess.run(
        [sys.executable, "-c", _HOLDER, lite_uri],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    with pytest.raises(StoreError, match="closed"):
        store.list_collections()


@pytest.mark.milvus_server
def test_server_round_trip_is_dense_only(milvus_server_uri: str) -> None:
    with VectorStore(milvus_server_uri) as store:
        store.drop_collection(SPEC.name)
        assert store.engine == "server"
        assert not store.bm25_supported  # 2.3: no BM25
        exercise_round_trip(store)
        coll = store.collection(SPEC)
        assert not coll.hybrid
        with pytest.raises(StoreError, match="dense-only"):
            coll.search(unit(1), text="x", mode="hybrid")
        with pytest.raises(SchemaMismatchError, match="dimension"):
            store.collection(CollectionSpec(name="things", dim=4, fields=FIELDS))
        store.drop_collection(SPEC.name)
