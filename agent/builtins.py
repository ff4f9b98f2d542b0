"""The tools an ``Agent`` gets when none are given."""

from __future__ import annotations

from agent.settings import Settings
from agent.tool import Tool
from tools.calculator import make_calculator_tool


def default_tools(settings: Settings) -> list[Tool]:
    del settings  # the calculator needs none; store-backed tools will
    return [make_calculator_tool()]
