"""The local server's dtype: bfloat16 where the hardware multiplies it, float32 elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.local import ServerConfig
from agent.local.dtype import choose_dtype, cpu_flags, total_memory, weights_bytes
from agent.local.server import server_command
from agent.settings import Settings

# Abridged /proc/cpuinfo of real machines: the AVX2-only EPYC these figures were measured on,
# a Sapphire Rapids Xeon, and an Arm Neoverse V1 (its "Features" line, no "flags").
EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni
"""
XEON_AMX = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""
NEOVERSE_V1 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16 i8mm sve
CPU implementer\t: 0x41
"""


def test_flags_are_read_from_x86_and_arm_cpuinfo() -> None:
    assert "avx2" in cpu_flags(EPYC_AVX2) and "avx512_bf16" not in cpu_flags(EPYC_AVX2)
    assert {"avx512_bf16", "amx_bf16"} <= cpu_flags(XEON_AMX)
    assert "bf16" in cpu_flags(NEOVERSE_V1)
    assert cpu_flags("") == frozenset()


@pytest.mark.parametrize(
    ("cpuinfo", "dtype", "why"),
    [
        (EPYC_AVX2, "float32", "no bfloat16 instructions"),
        (XEON_AMX, "bfloat16", "natively (amx_bf16)"),
        (NEOVERSE_V1, "bfloat16", "natively (bf16)"),
        ("", "bfloat16", "unknown"),  # no /proc/cpuinfo: the model's own dtype
    ],
)
def test_auto_follows_the_cpu(cpuinfo: str, dtype: str, why: str) -> None:
    choice = choose_dtype("auto", cpuinfo=cpuinfo, gpu=False)
    assert choice.dtype == dtype
    assert why in choice.why


def test_a_gpu_serves_bfloat16_and_a_setting_wins() -> None:
    assert choose_dtype("auto", cpuinfo=EPYC_AVX2, gpu=True).dtype == "bfloat16"
    explicit = choose_dtype("bfloat16", cpuinfo=EPYC_AVX2, gpu=False)
    assert (explicit.dtype, explicit.why) == ("bfloat16", "AGENT_VLLM_DTYPE=bfloat16")
    assert choose_dtype("float32", cpuinfo=XEON_AMX, gpu=True).dtype == "float32"


def test_the_setting_reaches_the_server_command(tmp_path: Path) -> None:
    for value in ("float32", "bfloat16"):
        settings = Settings.load(vllm_dtype=value, cache_dir=tmp_path)
        cmd = server_command(ServerConfig.from_settings(settings, model_dir=tmp_path))
        assert cmd[cmd.index("--dtype") + 1] == value


def test_a_dtype_vllm_cannot_serve_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vllm_dtype \\(an argument; env AGENT_VLLM_DTYPE\\)"):
        Settings.load(vllm_dtype="int4", cache_dir=tmp_path)


def test_float32_only_where_the_memory_holds_it() -> None:
    weights = 3_554_214_752  # the 1.5B's bfloat16 safetensors
    roomy = choose_dtype("auto", cpuinfo=EPYC_AVX2, gpu=False, weights=weights, memory=24 << 30)
    assert roomy.dtype == "float32"
    small = choose_dtype("auto", cpuinfo=EPYC_AVX2, gpu=False, weights=weights, memory=16 << 30)
    assert small.dtype == "bfloat16"
    assert "float32 needs ~17.4 GB of RAM and this machine has 17.2 GB" in small.why
    # not pulled yet: no weights to size, so the CPU decides
    assert choose_dtype("auto", cpuinfo=EPYC_AVX2, gpu=False, memory=16 << 30).dtype == "float32"


def test_this_machines_memory_is_read_and_used() -> None:
    memory = total_memory()
    assert memory is not None and memory > 1 << 30  # Linux: /proc/meminfo's MemTotal
    weights = 3_554_214_752
    mine = choose_dtype("auto", cpuinfo=EPYC_AVX2, gpu=False, weights=weights)
    assert mine == choose_dtype(
        "auto", cpuinfo=EPYC_AVX2, gpu=False, weights=weights, memory=memory
    )


def test_the_weights_are_sized_from_the_model_folder(tmp_path: Path) -> None:
    assert weights_bytes(tmp_path) == 0
    (tmp_path / "model-00001.safetensors").write_bytes(b"x" * 1000)
    (tmp_path / "model-00002.safetensors").write_bytes(b"x" * 24)
    (tmp_path / "config.json").write_text("{}")
    assert weights_bytes(tmp_path) == 1024
