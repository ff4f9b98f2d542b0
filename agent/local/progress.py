"""Progress of the slow local-model steps, reported to a callback for a front end to draw.

Provisioning and starting the server take minutes, so each step reports ``ProgressEvent``\\ s to
an ``on_progress`` callback: the first event of a stage starts it, later ones update it, and one
with ``finished=True`` ends it (a stage that fails raises instead of finishing). Events carry
plain text; how they look (bars, spinners, nothing at all) is the front end's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Stage = Literal["download", "assemble", "verify", "convert", "check", "start"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where one stage stands: ``done`` of ``total`` ``unit``, or no total when unmeasurable.

    ``message`` says what the stage does, ``detail`` what it last saw (the server's latest log
    line, say); both are plain text, one line each.
    """

    stage: Stage
    message: str
    done: int = 0
    total: int | None = None
    unit: str = ""
    detail: str = ""
    finished: bool = False


OnProgress = Callable[[ProgressEvent], None]
