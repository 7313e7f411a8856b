"""The envparity agent: runs inside (or beside) a model server.

``Agent`` and ``AgentSettings`` are imported lazily, so that importing the wire
format (as the collector does) does not start pulling in the scheduler.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Agent", "AgentSettings", "EnvParityMiddleware"]


def __getattr__(name: str) -> Any:
    if name == "Agent":
        from envparity.agent.agent import Agent

        return Agent
    if name == "AgentSettings":
        from envparity.agent.settings import AgentSettings

        return AgentSettings
    if name == "EnvParityMiddleware":
        from envparity.agent.capture.middleware import EnvParityMiddleware

        return EnvParityMiddleware
    raise AttributeError(f"module 'envparity.agent' has no attribute {name!r}")
