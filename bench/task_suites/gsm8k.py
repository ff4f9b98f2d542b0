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

# A number that stands alone: the 2 of "HTTP/2", the 20 of "v20" and the 8 of "utf8" are part of
# a name ("720 HTTP/2 timeouts fit into one day" answers 720), as the givens check reads them.
_NUMBER = re.compile(r"(?<![A-Za-z_\d])(?<![A-Za-z_]/)-?\d[\d,]*(?:\.\d+)?")
_ANSWER_LINE = re.compile(r"answer is|answer:|\\boxed\{", re.IGNORECASE)


def final_number(text: str) -> float | None:
    """The number an answer gives as its answer: the first number after its last answer
    marker ("The answer is", "Answer:", ``\\boxed{``) on that marker's line, skipping markers
    with no number after them ("This answer is based on the documents."), else the last number
    in the text ("... it costs $1,234." -> 1234.0). A number that is part of a name is not one:
    "720 HTTP/2 timeouts fit in a day" -> 720.0.

    The marker first, as GSM8K evaluations extract answers: a model that writes "The answer is
    115." and then restates the question ("... an average of $50 a night") answered 115. Every
    arm is scored by this same rule."""
    text = text.replace("$", "")
    for marker in reversed(list(_ANSWER_LINE.finditer(text))):
        found = _NUMBER.findall(text[marker.end() :].split("\n", 1)[0])
        if found:
            return _number(found[0])
    found = _NUMBER.findall(text)
    return _number(found[-1]) if found else None


def _number(written: str) -> float | None:
    try:
        return float(written.replace(",", "").rstrip("."))
    except ValueError:
        return None


class GSM8K:
    name = "gsm8k"
    arms: tuple[str, ...] = ("agent", "agent+vote", "bare", "raw", "program")

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
