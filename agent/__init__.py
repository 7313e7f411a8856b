"""The envparity agent: runs inside (or beside) a model server.

The public names are imported lazily, so that importing the wire format (as the
collector does) does not start pulling in the scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envparity.agent._lazy import lazy_attributes

if TYPE_CHECKING:
    from envparity.agent.agent import Agent
    from envparity.agent.capture.middleware import EnvParityMiddleware
    from envparity.agent.capture.wsgi import EnvParityWSGIMiddleware
    from envparity.agent.settings import AgentSettings
    from envparity.agent.sink import RequestSink, WindowedSink

__all__ = [
    "Agent",
    "AgentSettings",
    "EnvParityMiddleware",
    "EnvParityWSGIMiddleware",
    "RequestSink",
    "WindowedSink",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "Agent": "envparity.agent.agent",
        "AgentSettings": "envparity.agent.settings",
        "EnvParityMiddleware": "envparity.agent.capture.middleware",
        "EnvParityWSGIMiddleware": "envparity.agent.capture.wsgi",
        "RequestSink": "envparity.agent.sink",
        "WindowedSink": "envparity.agent.sink",
    },
)
