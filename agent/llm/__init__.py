"""The LLM client: chat completions from an OpenAI-compatible server (vLLM), streamed or not.

``LLMClient.complete`` sends the messages and tool specs, streams tokens and tool-call
arguments to callbacks, splits the reply's calls into decodable and invalid ones, and maps
every transport or server failure into the error tree (``LLMUnavailableError`` names the URL).
"""

from agent.llm.client import LLMClient, make_chat_model, to_openai_messages

__all__ = [
    "LLMClient",
    "make_chat_model",
    "to_openai_messages",
]
