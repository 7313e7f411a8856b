"""Request capture without touching the model server: ASGI middleware, sidecar proxy, shadow mirroring, log tail."""
