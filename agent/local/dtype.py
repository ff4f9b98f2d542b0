"""Which dtype the local vLLM server computes in (``AGENT_VLLM_DTYPE``, default ``auto``).

The model is stored as bfloat16, but a CPU without bfloat16 matrix instructions (no
``avx512_bf16`` or ``amx_bf16`` on x86, no ``bf16`` on Arm) cannot multiply it natively: vLLM's
oneDNN kernel refuses it ("Failed to create oneDNN linear") and falls back to an emulated path.
Measured on a 2-core AMD EPYC with AVX2 only, Qwen2.5-Coder-1.5B (``bench/serve_dtype.py``):
a Defects4J triage, whose prompt of trace and KB entries is long next to its reply, took 26-37 s
in float32 against 52-103 s in bfloat16; a GSM8K question on the bare prompt, a short prompt
and a long reply, about the same in both (decoding runs at ~4 tokens/s either way). float32
holds twice the weights in memory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.settings import VllmDtype

# CPU flags under which torch runs bfloat16 matrix products natively: x86 (AVX-512 BF16, AMX)
# and Arm (the "bf16" feature of Armv8.6 and later, as /proc/cpuinfo's Features line names it)
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
# The server's RSS in float32 per byte of bfloat16 weights: 13.0 GB for the 1.5B's 3.55 GB
# (bfloat16: 7.5 GB), and room beside it for the agent's own process, Milvus Lite and the OS.
FLOAT32_RSS_PER_WEIGHT_BYTE = 3.7
HEADROOM_BYTES = 4 << 30


@dataclass(frozen=True, slots=True)
class DtypeChoice:
    dtype: Literal["bfloat16", "float32"]
    why: str  # one clause, for `agent llm serve` and the pid file


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The flags of ``/proc/cpuinfo``'s text: its ``flags`` (x86) or ``Features`` (Arm) lines."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return frozenset(flags)


def total_memory() -> int | None:
    """This machine's RAM in bytes (``/proc/meminfo``'s MemTotal), ``None`` where unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def weights_bytes(model_dir: Path) -> int:
    """The size of the model's safetensors files (0 before it is pulled)."""
    return sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))


def choose_dtype(
    requested: VllmDtype,
    *,
    cpuinfo: str | None = None,
    gpu: bool | None = None,
    weights: int = 0,
    memory: int | None = None,
) -> DtypeChoice:
    """The dtype to serve in: ``requested`` unless ``auto``; then bfloat16 on an NVIDIA GPU or
    a CPU with native bfloat16, float32 on any other CPU whose RAM (``memory``, default this
    machine's) holds a float32 server for ``weights`` bytes of bfloat16 weights, else bfloat16.
    ``cpuinfo`` defaults to this machine's ``/proc/cpuinfo``, ``gpu`` to whether ``nvidia-smi``
    is on the PATH."""
    if requested != "auto":
        return DtypeChoice(requested, f"AGENT_VLLM_DTYPE={requested}")
    if gpu is None:
        gpu = shutil.which("nvidia-smi") is not None
    if gpu:
        return DtypeChoice("bfloat16", "an NVIDIA GPU serves it")
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            cpuinfo = ""
    flags = cpu_flags(cpuinfo)
    if not flags:
        return DtypeChoice("bfloat16", "the CPU's flags are unknown (no /proc/cpuinfo)")
    native = [f for f in NATIVE_BF16_FLAGS if f in flags]
    if native:
        return DtypeChoice("bfloat16", f"the CPU multiplies bfloat16 natively ({native[0]})")
    no_bf16 = "the CPU has no bfloat16 instructions (avx512_bf16, amx_bf16)"
    needed = int(weights * FLOAT32_RSS_PER_WEIGHT_BYTE) + HEADROOM_BYTES
    if weights and memory is None:
        memory = total_memory()
    if weights and memory is not None and memory < needed:
        return DtypeChoice(
            "bfloat16",
            f"{no_bf16}, but float32 needs ~{needed / 1e9:.1f} GB of RAM and this machine has "
            f"{memory / 1e9:.1f} GB: emulated bfloat16 reads prompts several times slower",
        )
    return DtypeChoice(
        "float32",
        f"{no_bf16}, so bfloat16 would be emulated: reading a prompt takes several times longer",
    )
