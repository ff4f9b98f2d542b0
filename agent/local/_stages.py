"""Sending the events of one stage, for the provisioning and server steps of this package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from agent.local.progress import OnProgress, ProgressEvent, Stage


class StageReporter:
    """Sends the events of one stage; made by ``report_stage``."""

    def __init__(self, on_progress: OnProgress | None, first: ProgressEvent) -> None:
        self._on_progress = on_progress
        self.event = first

    def update(self, *, done: int | None = None, detail: str | None = None) -> None:
        self._send(
            replace(
                self.event,
                done=self.event.done if done is None else done,
                detail=self.event.detail if detail is None else detail,
            )
        )

    def advance(self, amount: int) -> None:
        self.update(done=self.event.done + amount)

    def finish(self, message: str | None = None) -> None:
        self._send(replace(self.event, message=message or self.event.message, finished=True))

    def _send(self, event: ProgressEvent) -> None:
        self.event = event
        if self._on_progress is not None:
            self._on_progress(event)


@contextmanager
def report_stage(
    on_progress: OnProgress | None,
    stage: Stage,
    message: str,
    *,
    total: int | None = None,
    unit: str = "",
) -> Iterator[StageReporter]:
    """Start ``stage`` now and finish it when the block ends without an exception."""
    reporter = StageReporter(on_progress, ProgressEvent(stage, message, total=total, unit=unit))
    reporter.update()
    yield reporter
    if not reporter.event.finished:
        reporter.finish()
