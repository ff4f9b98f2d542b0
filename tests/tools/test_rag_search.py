"""The rag_search tool: arguments, output format and budget, and the agent using it through the
scripted LLM server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import Agent
from agent.loop import check_feedback
from agent.loop.givens import LookedUpAnswer, UnusedGivens
from agent.loop.unfinished import UnfinishedAnswer
from agent.rag import DocumentStore
from agent.settings import Settings
from agent.store import Hit, LocalEmbedder, VectorStore
from agent.testing import ScriptedServer, call, reply
from agent.tooling import Sourced, ToolArgumentsError, render_output
from tools.calculator import make_calculator_tool
from tools.rag_search import HEADER, excerpt_label, format_hits, make_rag_search_tool


def hit(n: int, text: str, score: float = 0.5) -> Hit:
    return Hit(
        id=f"h{n}",
        score=score,
        text=text,
        fields={
            "source": "handbook",
            "path": f"/srv/docs/part{n}.md",
            "position": n,
            "section": "Guide > Part",
        },
    )


def test_output_is_attributed() -> None:
    found = format_hits("q", [hit(3, "Run make rollback.", 0.0321)], max_tokens=1000)
    out = found.text
    assert found.sources == ("part3.md (Guide > Part)",)  # for RunResult.sources
    assert out.startswith(HEADER + "\n")
    assert "[1] file: part3.md | source: handbook | section: Guide > Part\n" in out
    assert "0.0321" not in out  # a score is nothing to cite, and one more number to misread
    assert out.endswith("Run make rollback.")


def test_a_file_is_named_from_the_working_directory_and_a_default_label_is_not_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "docs" / "guide.md")
    added_by_path = {"source": "docs/guide.md", "path": path}  # `agent docs add docs/`
    assert excerpt_label(added_by_path) == "file: docs/guide.md"
    assert excerpt_label({"source": "ops", "path": path}) == "file: docs/guide.md | source: ops"
    assert excerpt_label({"source": "ops", "path": "/elsewhere/run.md"}) == (
        "file: run.md | source: ops"
    )
    assert excerpt_label({"source": "md", "path": path}) == "file: docs/guide.md | source: md"


def test_output_is_trimmed_to_the_token_budget() -> None:
    hits = [hit(i, f"chunk {i} " + "word " * 300) for i in range(5)]  # ~380 tokens each
    found = format_hits("q", hits, max_tokens=1000)
    out = found.text
    assert len(out) / 4 <= 1000
    assert "[3] file" in out and "[4] file" not in out  # two whole, one cut
    # the sources are those of the excerpts shown, not of every hit
    assert found.sources == tuple(f"part{i}.md (Guide > Part)" for i in range(3))
    assert "[…]" in out  # the last one that fit in part is cut visibly
    assert "(2 more excerpts left out to fit the token budget)" in out
    assert (
        format_hits("q", [], max_tokens=1000).text
        == 'No documents matched "q" in the knowledge base.'
    )
    assert format_hits("q", [], max_tokens=1000).sources == ()


def test_arguments_are_bounded(settings: Settings) -> None:
    tool = make_rag_search_tool(settings)
    assert tool.validate({"query": "x"}).top_k == 5
    schema = tool.parameters_schema()
    assert schema["properties"]["top_k"]["maximum"] == 20
    for bad, field in [
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "top_k": 21}, "top_k"),
        ({"query": ""}, "query"),
        ({"query": "x", "k": 3}, "k"),
        ({"query": "x", "tags": "ops"}, "tags"),
    ]:
        with pytest.raises(ToolArgumentsError) as info:
            tool.validate(bad)
        assert [e.path for e in info.value.errors] == [field]


@pytest.fixture
def documents(
    settings: Settings, embedder: LocalEmbedder, tmp_path: Path
) -> Iterator[DocumentStore]:
    (tmp_path / "deploy.md").write_text(
        "# Deploy\n\nRun `make deploy` to ship.\n\n## Rollback\n\nIf a release breaks "
        "production, run `make rollback` within ten minutes to restore the previous image.\n"
    )
    (tmp_path / "cats.md").write_text("# Cats\n\nCats sleep about sixteen hours a day.\n")
    with VectorStore(settings.store_uri) as store:
        base = DocumentStore(store, embedder, collection=settings.docs_collection)
        base.ingest([tmp_path / "deploy.md"], source="runbooks", tags=["ops"])
        base.ingest([tmp_path / "cats.md"], source="wiki")
        yield base


async def test_tool_returns_chunks_with_their_file_and_source(
    documents: DocumentStore, settings: Settings
) -> None:
    tool = make_rag_search_tool(settings, documents=documents)
    found = await tool.ainvoke(tool.validate({"query": "roll back a broken release", "top_k": 1}))
    assert isinstance(found, Sourced)
    assert found.sources == ("deploy.md (Deploy > Rollback)",)
    out = render_output(found)  # what the model reads
    assert "make rollback" in out and "Cats" not in out
    assert "[1] file: deploy.md | source: runbooks" in out
    filtered = await tool.ainvoke(
        tool.validate({"query": "roll back", "source": "wiki", "tags": ["ops"]})
    )
    assert filtered.startswith("No documents matched")  # type: ignore[union-attr]


async def test_tool_on_an_empty_document_store(settings: Settings) -> None:
    tool = make_rag_search_tool(settings)  # opens settings.store_uri itself, on first call
    out = await tool.ainvoke(tool.validate({"query": "anything"}))
    assert out.startswith("No documents have been ingested") and "without this tool" in out


def test_agent_answers_through_rag_search(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore
) -> None:
    settings = settings.model_copy(update={"auto_retrieve": False})  # the model searches
    scripted_llm.push(
        call("rag_search", query="how to roll back a broken release", top_k=2),
        reply("Run `make rollback` within ten minutes (source: runbooks)."),
    )
    with Agent(settings, tools=[make_rag_search_tool(settings, documents=documents)]) as agent:
        result = agent.run("How do I roll back a broken release?")
    scripted_llm.assert_done()
    assert result.answer == "Run `make rollback` within ten minutes (source: runbooks)."
    [record] = result.tool_calls
    # the runtime lists what the two excerpts shown came from, whether or not the model cites it;
    # the second is a near tie (deploy.md's intro or cats.md), so it is read off the excerpts
    assert result.sources[0] == "deploy.md (Deploy > Rollback)" and len(result.sources) == 2
    shown = re.findall(
        r"\[\d\] file: (\S+)(?: \| source: [^|\n]+)? \| section: ([^\n]+)", record.content
    )
    assert result.sources == [f"{file} ({section})" for file, section in shown]
    assert (record.name, record.is_error) == ("rag_search", False)
    assert record.content.startswith('<untrusted_data source="rag_search"')  # framed as data
    assert HEADER in record.content and "make rollback" in record.content
    first, second = scripted_llm.requests
    assert "rag_search" in {t["function"]["name"] for t in first["tools"]}
    tool_message = [m for m in second["messages"] if m["role"] == "tool"][-1]
    assert tool_message["content"] == record.content  # what the model read


def test_the_runtime_searches_first_when_the_documents_are_close_to_the_question(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore
) -> None:
    scripted_llm.push(reply("Run `make rollback`."), reply("391"))
    tool = make_rag_search_tool(settings, documents=documents)
    with Agent(settings, tools=[tool, make_calculator_tool()]) as agent:
        close = agent.run("How do I roll back a broken release?")
        far = agent.run("What is 17 * 23?")
    scripted_llm.assert_done()
    # before the model's first step, the thread holds a rag_search call and its excerpts
    first = scripted_llm.requests[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant", "tool"]
    assert first[2]["tool_calls"][0]["function"]["name"] == "rag_search"
    assert "make rollback" in first[3]["content"] and "Cats" not in first[3]["content"]
    assert first[3]["content"].startswith("<untrusted_data")
    [record] = close.tool_calls
    assert record.name == "rag_search" and record.call_id.startswith("prefetch_")
    assert close.sources and all(s.startswith("deploy.md") for s in close.sources)
    # a question far from every document gets nothing added
    assert [m["role"] for m in scripted_llm.requests[1]["messages"]] == ["system", "user"]
    assert far.tool_calls == [] and far.sources == []


def test_no_search_first_when_turned_off_or_nothing_is_ingested(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore, tmp_path: Path
) -> None:
    off = settings.model_copy(update={"auto_retrieve": False})
    scripted_llm.push(reply("ok"))
    with Agent(off, tools=[make_rag_search_tool(off, documents=documents)]) as agent:
        agent.run("How do I roll back a broken release?")
    assert [m["role"] for m in scripted_llm.requests[-1]["messages"]] == ["system", "user"]
    empty = settings.model_copy(update={"milvus_uri": str(tmp_path / "empty.db")})
    scripted_llm.push(reply("ok"))
    with Agent(empty, tools=[make_rag_search_tool(empty)]) as agent:
        agent.run("How do I roll back a broken release?")
    assert [m["role"] for m in scripted_llm.requests[-1]["messages"]] == ["system", "user"]
    scripted_llm.assert_done()


def test_a_looked_up_answer_that_leaves_the_questions_numbers_unused_goes_back_once(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore
) -> None:
    stops_short = "Run `make rollback` within ten minutes."
    done = "Within 10 minutes, so in 30 minutes: 30 / 10 = 3 rollbacks. The answer is 3."
    scripted_llm.push(reply(stops_short), reply(done), reply("17 * 23 = 391"))
    tool = make_rag_search_tool(settings, documents=documents)
    with Agent(settings, tools=[tool, make_calculator_tool()]) as agent:
        looked_up = agent.run(  # close enough to the runbook to be searched first
            "If a release breaks production, within how many minutes must I run make rollback? "
            "How many such windows fit in 30 minutes?"
        )
        computed = agent.run("What is 17 * 23 + 4?")  # nothing looked up: not checked for givens
    scripted_llm.assert_done()
    assert looked_up.answer == done
    assert looked_up.corrected == ["the question gives 30, which your answer does not use"]
    sent_back = scripted_llm.requests[1]["messages"][-1]
    assert sent_back["role"] == "user"
    assert sent_back["content"] == check_feedback([UnusedGivens(("30",))])
    assert sent_back["content"].startswith("Your answer does not use 30 from my question.")
    assert computed.answer == "17 * 23 = 391" and computed.corrected == []


def test_an_answer_that_is_the_looked_up_value_goes_back_once(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore, tmp_path: Path
) -> None:
    limits = tmp_path / "limits.md"
    limits.write_text(
        "# Limits\n\nA worker keeps at most 256 free sockets open per host; it retries 3 times.\n"
    )
    documents.ingest([limits], source="limits")
    question = (
        "How many free sockets does a worker keep open per host at most? "
        "With 7 hosts, how many free sockets in total?"
    )
    restated = "With 7 hosts, a worker keeps at most 256 free sockets open."
    done = "256 free sockets per host for 7 hosts: 256 * 7 = 1792. The answer is 1792."
    stopped = "Step 1: 256 per host, 7 hosts: 256 * 7 = 1792\nStep 3: Format the answer"
    scripted_llm.push(reply(restated), reply(done), reply(stopped), reply(done))
    tool = make_rag_search_tool(settings, documents=documents)
    with Agent(settings, tools=[tool, make_calculator_tool()]) as agent:
        result = agent.run(question)
        unfinished = agent.run(question)
    scripted_llm.assert_done()
    assert result.answer == done
    found = LookedUpAnswer("256", ("7",))
    assert result.corrected == [str(found)]
    assert scripted_llm.requests[1]["messages"][-1]["content"] == check_feedback([found])
    # the 3 it stopped at is a step's label, not the documents' 3 retries answered
    assert unfinished.answer == done
    assert unfinished.corrected == [str(UnfinishedAnswer("Step 3: Format the answer"))]


def test_the_search_first_shows_at_most_auto_retrieve_top_k_excerpts(
    scripted_llm: ScriptedServer, settings: Settings, documents: DocumentStore, tmp_path: Path
) -> None:
    faq = tmp_path / "faq.md"
    faq.write_text("# FAQ\n\nA broken release is rolled back with `make rollback`.\n")
    documents.ingest([faq], source="faq")
    shown = []
    for top_k in (1, 3):
        scripted_llm.push(reply("Run `make rollback`."))
        limited = settings.model_copy(update={"auto_retrieve_top_k": top_k})
        tool = make_rag_search_tool(limited, documents=documents)
        with Agent(limited, tools=[tool]) as agent:
            [record] = agent.run("How do I roll back a broken release?").tool_calls
        shown.append(record.content)
    scripted_llm.assert_done()
    one, three = shown
    assert "[1] file: " in one and "[2]" not in one
    assert "[2]" in three  # the same question, more excerpts
