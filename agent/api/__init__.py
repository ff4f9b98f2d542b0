"""The public Python API: ``Agent`` runs the graph, sync or async, streaming or not.

::

    from agent import Agent
    with Agent() as agent:                      # settings from AGENT_* env / .env
        result = agent.run("What is (1234 + 5678) / 2?")
        print(result.answer, result.tool_calls, result.usage)

``Agent(model=...)`` takes a LangChain chat model instead of the settings' server;
``run(..., output_type=T)`` returns a ``RunResult[T]`` whose ``output`` is validated;
``resume(thread_id, decisions=...)`` continues a run that waits for approval, from any process.
"""

from agent.api.agent import Agent

__all__ = ["Agent"]
