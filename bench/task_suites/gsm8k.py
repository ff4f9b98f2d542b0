"""gsm8k: grade-school maths word problems; right = the answer's final number is the reference.

A fixed-seed sample of ``DATA/gsm8k/train.jsonl`` (the test split is held out).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from agent import Settings
from task_suites.base import RunOutput, SuiteSkipped, Task

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_number(text: str) -> float | None:
    """The number an answer ends on ("The answer is 1,234." -> 1234.0)."""
    found = _NUMBER.findall(text.replace("$", ""))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", "").rstrip("."))
    except ValueError:
        return None


class GSM8K:
    name = "gsm8k"
    arms: tuple[str, ...] = ("agent", "bare", "raw")

    def load(self, data: Path, n: int, seed: int) -> list[Task]:
        path = data / "gsm8k" / "train.jsonl"
        if not path.is_file():
            raise SuiteSkipped(f"no {path}")
        lines = path.read_text().splitlines()
        picked = random.Random(seed).sample(range(len(lines)), min(n, len(lines)))
        tasks = []
        for i in picked:
            row = json.loads(lines[i])
            reference = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
            tasks.append(Task(self.name, f"train-{i}", row["question"], float(reference)))
        return tasks

    def check(self, task: Task, out: RunOutput) -> bool:
        got = final_number(out.answer)
        expected = float(task.expected)
        return got is not None and abs(got - expected) <= 1e-6 * max(1.0, abs(expected))

    async def run_agent(self, task: Task, settings: Settings) -> RunOutput | None:
        return None
