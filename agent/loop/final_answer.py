"""``final_answer``: how the model ends a run in ``required`` tool-call mode.

Under ``tool_choice=required`` the model must call a tool every step, and vLLM's guided decoding
then guarantees a parseable call; the answer itself therefore travels as this tool's argument.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.tooling.strict_schema import strict_schema

FINAL_ANSWER = "final_answer"


class FinalAnswerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Before the answer, so that guided decoding lets the model work the problem out first.
    reasoning: str = Field("", description="Your step-by-step working, before you give the answer.")
    answer: str = Field(
        ..., min_length=1, description="The complete final answer to the user's question."
    )


def final_answer_spec() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": FINAL_ANSWER,
            "description": (
                "Give the final answer to the user. Call this once you know the answer; "
                "it ends the conversation turn."
            ),
            "parameters": strict_schema(FinalAnswerArgs.model_json_schema()),
            "strict": True,
        },
    }
