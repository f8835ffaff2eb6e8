"""The model cascade: local-first providers (Ollama, OpenAI-compatible) behind pybreaker breakers, tenacity
retries for transient errors only, streaming with honest failover, metrics; and the clients built on it.

    from uni_wizard.cascade import Cascade, Message, load_cascade_config
    cascade = Cascade.from_config(load_cascade_config(None), registry=registry)
    answer = await cascade.complete([Message("user", "Say hi")])

Floor: the lowest lane. May import: the base (config, configfile, errors, metricset) only: the cascade is
model providers, nothing of the houses.
"""

from .cascade import Cascade, CascadeStream
from .config import CascadeConfig, default_cascade_path, load_cascade_config
from .types import Completion, CompletionClient, Message, ToolCall, ToolSchema, Usage

__all__ = [
    "Cascade",
    "CascadeConfig",
    "CascadeStream",
    "Completion",
    "CompletionClient",
    "Message",
    "ToolCall",
    "ToolSchema",
    "Usage",
    "default_cascade_path",
    "load_cascade_config",
]
