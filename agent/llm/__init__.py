"""The LLM client: chat completions from an OpenAI-compatible server (vLLM), streamed or not.

``LLMClient.complete`` sends the messages and tool specs, streams tokens and tool-call
arguments to callbacks, splits the reply's calls into decodable and invalid ones, and maps
every transport or server failure into the error tree (``LLMUnavailableError`` names the URL).
The loop takes any ``ChatClient``: ``make_client`` gives ``LLMClient``, a LangChain chat model
(``LangChainClient``), either with a fallback server behind it (``FallbackClient``).
"""

from agent.llm.adapters import (
    ChatClient,
    FallbackClient,
    LangChainClient,
    make_client,
    probe_target,
)
from agent.llm.client import REPEATED, LLMClient, make_chat_model, to_openai_messages

__all__ = [
    "REPEATED",
    "ChatClient",
    "FallbackClient",
    "LLMClient",
    "LangChainClient",
    "make_client",
    "probe_target",
    "make_chat_model",
    "to_openai_messages",
]
