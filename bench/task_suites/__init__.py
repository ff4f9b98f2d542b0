"""The task suites of ``bench/agent_tasks.py``, by name."""

from task_suites.base import (
    ARMS,
    HasSettings,
    RunOutput,
    Suite,
    SuiteSkipped,
    Task,
    suite_settings,
)
from task_suites.bfcl import BFCL
from task_suites.gsm8k import GSM8K
from task_suites.mixed import Mixed
from task_suites.triage import Triage

SUITES: dict[str, Suite] = {
    "gsm8k": GSM8K(),
    "bfcl": BFCL(),
    "triage": Triage(),
    "mixed": Mixed(),
}

__all__ = [
    "ARMS",
    "SUITES",
    "HasSettings",
    "RunOutput",
    "Suite",
    "SuiteSkipped",
    "Task",
    "suite_settings",
]
