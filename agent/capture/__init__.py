"""Request capture without touching the model server: ASGI middleware, sidecar proxy, shadow mirroring, log tail.

The public names are imported lazily: the proxy needs the ``proxy`` extra (aiohttp),
the others do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envparity.agent._lazy import lazy_attributes

if TYPE_CHECKING:
    from envparity.agent.capture.endpoints import ProxyEndpoints
    from envparity.agent.capture.extract import CaptureConfig
    from envparity.agent.capture.logtail import LogFields, LogTail
    from envparity.agent.capture.middleware import EnvParityMiddleware
    from envparity.agent.capture.proxy import ReverseProxy
    from envparity.agent.capture.shadow import ShadowMirror
    from envparity.agent.capture.wsgi import EnvParityWSGIMiddleware

__all__ = [
    "CaptureConfig",
    "EnvParityMiddleware",
    "EnvParityWSGIMiddleware",
    "LogFields",
    "LogTail",
    "ProxyEndpoints",
    "ReverseProxy",
    "ShadowMirror",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "CaptureConfig": "envparity.agent.capture.extract",
        "EnvParityMiddleware": "envparity.agent.capture.middleware",
        "EnvParityWSGIMiddleware": "envparity.agent.capture.wsgi",
        "LogFields": "envparity.agent.capture.logtail",
        "LogTail": "envparity.agent.capture.logtail",
        "ProxyEndpoints": "envparity.agent.capture.endpoints",
        "ReverseProxy": "envparity.agent.capture.proxy",
        "ShadowMirror": "envparity.agent.capture.shadow",
    },
)
