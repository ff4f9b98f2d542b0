"""The document store: readers, chunking, ingest and search on Milvus Lite / the Milvus server
with the real local embedding model, and the ``agent docs`` commands."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.rag import DocumentStore
from agent.rag._chunking import chunk_text
from agent.rag._readers import UnreadableFileError, read_document
from agent.store import LocalEmbedder, VectorStore


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with a text layer (Helvetica)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({x}) Tj T*" for x in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


# --- readers -----------------------------------------------------------------------------------


def test_readers_turn_every_format_into_text_with_headings(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Install guide\n\nRun `make`.\n")
    (tmp_path / "b.html").write_text(
        "<html><head><title>Cats &amp; dogs</title><style>p{}</style></head><body>"
        "<h2>Food</h2><p>Cats need <b>taurine</b>.</p><script>alert(1)</script></body></html>"
    )
    (tmp_path / "c.rst").write_text("Overview\n========\n\nIntro.\n\nDetails\n-------\n\nMore.\n")
    (tmp_path / "d.pdf").write_bytes(make_pdf(["Quarterly report", "Revenue grew 12 percent."]))
    md = read_document(tmp_path / "a.md")
    assert (md.title, md.text) == ("Install guide", "# Install guide\n\nRun `make`.")
    html = read_document(tmp_path / "b.html")
    assert html.title == "Cats & dogs"
    assert html.text == "## Food\n\nCats need taurine."
    rst = read_document(tmp_path / "c.rst")
    assert rst.text == "# Overview\n\nIntro.\n\n## Details\n\nMore."
    pdf = read_document(tmp_path / "d.pdf")
    assert pdf.text == "Quarterly report\nRevenue grew 12 percent." and pdf.title == "d"


def test_markdown_html_comments_are_not_text_outside_code(tmp_path: Path) -> None:
    (tmp_path / "api.md").write_text(
        "# server.timeout\n\n<!-- YAML\nchanges:\n  - version: v13.0.0\n-->\n\n"
        "* Default: 0 <!-- lint-disable --> (no timeout)\n\n"
        "```html\n<!-- shown in the example -->\n```\n\n~~~\n```\n<!-- still code -->\n~~~\n"
    )
    (tmp_path / "notes.txt").write_text("plain <!-- text --> is left as it is\n")
    md = read_document(tmp_path / "api.md")
    assert md.text == (
        "# server.timeout\n\n* Default: 0  (no timeout)\n\n"
        "```html\n<!-- shown in the example -->\n```\n\n~~~\n```\n<!-- still code -->\n~~~"
    )
    assert read_document(tmp_path / "notes.txt").text == "plain <!-- text --> is left as it is"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("blob.txt", b"\x00\x01\x02binary" * 50, "binary content"),
        ("latin.md", "caf\xe9 ".encode("latin-1") * 200, "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4 truncated", "broken PDF"),
        ("image.png", b"\x89PNG", "unsupported file type .png"),
        ("empty.txt", b"  \n\n", "no text"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UnreadableFileError, match=reason):
        read_document(tmp_path / name)


# --- chunking ----------------------------------------------------------------------------------


def test_chunks_overlap_within_a_section_and_respect_headings() -> None:
    install = " ".join(f"Step {i} installs part {i} of the system." for i in range(40))
    text = f"# Guide\n\nShort intro.\n\n## Install\n\n{install}\n\n## Usage\n\nRun it.\n"
    chunks = chunk_text(text, size=300, overlap=80)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(len(c.text) <= 300 + 40 for c in chunks)  # size plus the heading prefix
    assert chunks[0].text == "# Guide\n\nShort intro."  # a section with text: its own chunk
    assert chunks[1].text.startswith("## Install\n\nStep 0 ")
    middle = [c for c in chunks if c.section == "Guide > Install"]
    assert len(middle) >= 4
    for prev, nxt in zip(middle, middle[1:], strict=False):
        last_sentence = prev.text.rsplit(". ", 1)[-1]
        assert last_sentence in nxt.text  # the overlap carries whole sentences over
    assert nxt.text.startswith("[Guide > Install]\n")  # mid-section chunks name their place
    assert chunks[-1].text == "## Usage\n\nRun it."  # no overlap across a heading
    assert chunks[-1].section == "Guide > Usage"


def test_a_heading_without_text_stays_with_the_section_under_it() -> None:
    text = (
        "# Buffer\n\n## Class: `Buffer`\n\n### `Buffer.poolSize`\n\n* {integer} **Default:** "
        "`8192`\n\n### `buf[index]`\n\nThe index operator.\n"
    )
    chunks = chunk_text(text, size=1000, overlap=150)
    assert [c.section for c in chunks] == [
        "Buffer > Class: `Buffer` > `Buffer.poolSize`",
        "Buffer > Class: `Buffer` > `buf[index]`",
    ]
    assert chunks[0].text.startswith("# Buffer\n\n## Class: `Buffer`\n\n### `Buffer.poolSize`")
    assert "8192" in chunks[0].text and "8192" not in chunks[1].text
    assert chunks[1].text == "### `buf[index]`\n\nThe index operator."


def test_chunking_keeps_code_fences_and_cuts_giant_tokens() -> None:
    chunks = chunk_text("```\n# not a heading\nx = 1\n```\n\n" + "y" * 700, size=300, overlap=0)
    assert chunks[0].text.startswith("```\n# not a heading")
    assert chunks[0].section == ""
    assert max(len(c.text) for c in chunks) <= 300 + 10
    assert "".join(c.text for c in chunks).count("y") == 700


def test_a_long_list_is_cut_between_items_so_each_option_keeps_its_default() -> None:
    # an API reference's options list: one paragraph, far longer than a chunk
    items = [
        f"  * `option{i}`: {{number}} What option {i} does. **Default:** `{i}`." for i in range(30)
    ]
    text = (
        "## `make(options)`\n\n* `options`: {Object}\n" + "\n".join(items) + "\n\nReturns a thing."
    )
    chunks = chunk_text(text, size=300, overlap=80)
    assert len(chunks) >= 5
    for i, item in enumerate(items):
        holding = [c for c in chunks if f"`option{i}`" in c.text]
        assert holding, i
        # the item is whole, on its own line, in every chunk that names it
        assert all(f"\n{item}" in c.text or c.text.endswith(item) for c in holding), i
    assert "**Default:** `3`. * `option4`" not in "".join(c.text for c in chunks)
    assert chunks[1].text.startswith("[`make(options)`]\n  * `option")  # overlap: whole items


# --- the document store ------------------------------------------------------------------------


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "deploy.md").write_text(
        "# Deploy\n\nRun `make deploy` to push the container image to the registry.\n\n"
        "## Rollback\n\nIf a release breaks production, run `make rollback` within ten "
        "minutes; it restores the previous image.\n"
    )
    (root / "cats.html").write_text(
        "<title>Cats</title><h1>Cats</h1><p>Cats sleep about sixteen hours a day.</p>"
        "<h2>Food</h2><p>Cats are obligate carnivores and need taurine in their food.</p>"
    )
    (root / "report.pdf").write_bytes(make_pdf(["Quarterly report", "Revenue grew 12 percent."]))
    (root / "blob.txt").write_bytes(b"\x00\xff\x00 not text" * 100)
    (root / ".hidden.md").write_text("# Secret\n\nnot ingested\n")
    return root


def test_ingest_search_round_trip(
    documents: DocumentStore, docs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.rag.documents"):
        report = documents.ingest([docs], source="handbook", tags=["ops", "pets"])
    assert report.files_added == 3
    assert [Path(p).name for p, _ in report.skipped] == ["blob.txt"]
    assert any("skipped" in r.message and "blob.txt" in r.message for r in caplog.records)
    assert report.chunks_added == documents.collection().count() > 0  # type: ignore[union-attr]

    hit = documents.search("how do I undo a bad release?", top_k=1)[0]
    assert Path(hit.fields["path"]).name == "deploy.md"
    assert "make rollback" in hit.text
    assert hit.fields["source"] == "handbook"
    assert hit.fields["tags"] == ["ops", "pets"]
    assert hit.fields["section"] == "Deploy > Rollback" or hit.fields["position"] == 0
    pets = documents.search("what should cats eat?", top_k=1)[0]
    assert Path(pets.fields["path"]).name == "cats.html" and pets.fields["title"] == "Cats"
    money = documents.search("revenue growth last quarter", top_k=1)[0]
    assert Path(money.fields["path"]).name == "report.pdf"

    names = [Path(s.path).name for s in documents.sources()]
    assert names == ["cats.html", "deploy.md", "report.pdf"]
    stats = documents.stats()
    assert (stats.documents, stats.sources, stats.hybrid, stats.dim) == (3, 1, True, 384)


def test_reingest_is_idempotent_and_a_changed_file_replaces_its_chunks(
    documents: DocumentStore, docs: Path
) -> None:
    first = documents.ingest([docs])
    coll = documents.collection()
    assert coll is not None
    ids = {r["id"] for r in coll.query(output_fields=["id"], limit=1000)}
    again = documents.ingest([docs])
    assert (again.files_unchanged, again.files_added, again.chunks_added) == (3, 0, 0)
    assert {r["id"] for r in coll.query(output_fields=["id"], limit=1000)} == ids

    deploy = str((docs / "deploy.md").resolve())
    old_chunks = coll.count(f'path == "{deploy}"')
    assert old_chunks >= 1 and first.chunks_added == len(ids)
    (docs / "deploy.md").write_text("# Deploy\n\nDeploys now go through the Argo pipeline.\n")
    changed = documents.ingest([docs])
    assert (changed.files_replaced, changed.files_unchanged) == (1, 2)
    assert (changed.chunks_added, changed.chunks_removed) == (1, old_chunks)
    assert changed.chunks_reused == 0
    rows = coll.query(f'path == "{deploy}"', output_fields=["text"], limit=100)
    assert [r["text"] for r in rows] == ["# Deploy\n\nDeploys now go through the Argo pipeline."]
    assert "make rollback" not in " ".join(h.text for h in documents.search("rollback", top_k=10))

    # new tags are a change too: same text, re-labelled chunks, vectors reused (not re-embedded)
    relabelled = documents.ingest([docs / "cats.html"], tags=["pets"])
    assert relabelled.files_replaced == 1
    assert relabelled.chunks_reused == relabelled.chunks_added >= 1
    assert relabelled.embed_seconds < 0.05
    assert documents.search("cats", top_k=1, tags=["pets"])[0].fields["tags"] == ["pets"]


def test_filters_by_source_and_tags(documents: DocumentStore, docs: Path) -> None:
    documents.ingest([docs / "deploy.md"], source="runbooks", tags=["ops"])
    documents.ingest([docs / "cats.html"], source="wiki", tags=["pets", "animals"])
    query = "how do I undo a bad release?"
    assert {h.fields["source"] for h in documents.search(query, top_k=10)} == {"runbooks", "wiki"}
    only_wiki = documents.search(query, top_k=10, source="wiki")
    assert only_wiki and {h.fields["source"] for h in only_wiki} == {"wiki"}
    tagged = documents.search(query, top_k=10, tags=["animals", "nothing"])
    assert tagged and all("animals" in h.fields["tags"] for h in tagged)
    assert documents.search(query, top_k=10, source="runbooks", tags=["pets"]) == []

    assert documents.remove("wiki") > 0
    assert {s.source for s in documents.sources()} == {"runbooks"}
    assert documents.remove(str(docs / "deploy.md")) > 0  # by path works too
    assert documents.sources() == []


def test_empty_document_store(documents: DocumentStore) -> None:
    assert documents.search("anything", top_k=3) == []
    assert documents.sources() == []
    assert documents.stats().chunks == 0
    assert documents.remove("nothing") == 0
    assert not documents.store.has_collection("documents")  # reading never creates it


KEYWORD_DOCS = {
    "E4817": "E4817: card verification failed. The three-digit security code on the back of "
    "the card did not match.",
    "E4871": "E4871: the card has expired. Ask the customer for a card with a later expiry date.",
    "E8417": "E8417: the issuing bank declined the charge without giving a reason.",
    "E8471": "E8471: the amount is over the daily spending limit set by the bank.",
    "E1748": "E1748: this currency cannot be settled by the merchant account.",
    "E7148": "E7148: merchant account frozen pending a compliance review.",
    "KX-2291": "KX-2291: blue steel water bottle, 750 ml, double-walled.",
    "KX-2219": "KX-2219: blue steel water bottle, 500 ml, single-walled.",
    "KX-9221": "KX-9221: green steel water bottle, 750 ml.",
    "KX-1292": "KX-1292: blue plastic water bottle, 750 ml.",
}


def test_hybrid_beats_dense_on_codes_and_skus(documents: DocumentStore, tmp_path: Path) -> None:
    for key, text in KEYWORD_DOCS.items():
        (tmp_path / f"{key}.txt").write_text(text)
    documents.ingest([tmp_path / f"{key}.txt" for key in KEYWORD_DOCS])
    queries = [(key, key) for key in KEYWORD_DOCS] + [
        (f"what does error {k} mean?" if k.startswith("E") else f"tell me about product {k}", k)
        for k in KEYWORD_DOCS
    ]

    def correct(mode: str) -> int:
        return sum(
            Path(documents.search(q, top_k=1, mode=mode)[0].fields["path"]).stem == want  # type: ignore[arg-type]
            for q, want in queries
        )

    dense, hybrid = correct("dense"), correct("hybrid")
    # measured: dense 9/20, hybrid 18/20 (digit-permuted codes all look alike to MiniLM)
    assert hybrid >= 16
    assert hybrid >= dense + 5


@pytest.mark.milvus_server
def test_round_trip_on_the_milvus_server(
    milvus_server_uri: str, embedder: LocalEmbedder, docs: Path
) -> None:
    with VectorStore(milvus_server_uri) as store:
        store.drop_collection("docs_server_test")
        documents = DocumentStore(store, embedder, collection="docs_server_test", chunk_size=400)
        report = documents.ingest([docs], tags=["ops"])
        assert report.files_added == 3
        assert not documents.stats().hybrid  # Milvus 2.3: dense only
        hit = documents.search("how do I undo a bad release?", top_k=1, tags=["ops"])[0]
        assert "make rollback" in hit.text
        assert 0.3 < hit.score <= 1.0  # dense: the cosine similarity
        assert documents.ingest([docs], tags=["ops"]).files_unchanged == 3
        assert documents.remove(str(docs / "cats.html")) > 0
        assert {Path(s.path).name for s in documents.sources()} == {"deploy.md", "report.pdf"}
        documents.clear()


def test_docs_cli(docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agent.cli import app
    from agent.cli.exit_codes import ExitCode

    monkeypatch.setenv("AGENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "250")  # rich's table width: keep paths on one line
    runner = CliRunner()
    added = runner.invoke(app, ["docs", "add", str(docs), "--source", "handbook", "--tags", "a,b"])
    assert added.exit_code == 0, added.output
    assert "3 added, 0 replaced, 0 unchanged, 1 skipped" in added.stdout
    assert "skipped" in added.stderr and "blob.txt" in added.stderr
    again = runner.invoke(app, ["docs", "add", str(docs), "--source", "handbook", "--tags", "a,b"])
    assert "0 added, 0 replaced, 3 unchanged" in again.stdout
    listing = runner.invoke(app, ["docs", "list"])
    assert listing.exit_code == 0 and "deploy.md" in listing.stdout and "Cats" in listing.stdout
    assert "┃ file " in listing.stdout  # a source named by --source: the file beside it
    stats = runner.invoke(app, ["docs", "stats"])
    assert "documents: 3" in stats.stdout and "hybrid" in stats.stdout
    removed = runner.invoke(app, ["docs", "remove", str(docs / "cats.html")])
    assert removed.exit_code == 0 and removed.stdout.startswith("Removed ")
    # bad input (no such source, no usable file) is a usage error since the one exit-code table
    assert runner.invoke(app, ["docs", "remove", "nothing"]).exit_code == ExitCode.USAGE
    assert runner.invoke(app, ["docs", "remove"]).exit_code == ExitCode.USAGE
    missing = runner.invoke(app, ["docs", "add", str(tmp_path / "nope.md")])
    assert missing.exit_code == ExitCode.USAGE and "no such file or directory" in missing.stderr
    assert runner.invoke(app, ["docs", "remove", "--all"]).exit_code == 0
    assert "empty" in runner.invoke(app, ["docs", "list"]).stdout
    assert "warning" not in runner.invoke(app, ["docs", "list"]).stderr
    assert runner.invoke(app, ["docs", "add", str(docs / "deploy.md")]).exit_code == 0
    listing = runner.invoke(app, ["docs", "list"])
    assert "deploy.md" in listing.stdout and "┃ file " not in listing.stdout  # no empty column
    assert runner.invoke(app, ["docs", "remove", "--all"]).exit_code == 0

    # `agent kb` is the old name: hidden, the same commands, one line saying to move on
    assert "kb" not in runner.invoke(app, ["--help"]).stdout.split()
    old = runner.invoke(app, ["kb", "list"])
    assert old.exit_code == 0 and "empty" in old.stdout
    assert old.stderr == "warning: `agent kb` is deprecated; use `agent docs`\n"
