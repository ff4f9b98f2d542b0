"""The LLM client: chat completions from an OpenAI-compatible server (vLLM), streamed or not.

``LLMClient.complete`` sends the messages and tool specs, streams tokens and tool-call
arguments to callbacks, splits the reply's calls into decodable and invalid ones, and maps
every transport or server failure into the error tree (``LLMUnavailableError`` names the URL).
"""

from agent.llm.client import LLMClient, make_chat_model, to_openai_messages
from agent.llm.probe import (
    ProbeResult,
    ServerProfile,
    cached_profile,
    describe_mode,
    probe_server,
    server_profile,
)

__all__ = [
    "LLMClient",
    "ProbeResult",
    "ServerProfile",
    "cached_profile",
    "describe_mode",
    "make_chat_model",
    "probe_server",
    "server_profile",
    "to_openai_messages",
]
