"""A model server of the demo: FastAPI scoring the fraud model, an envparity agent recording in-process.

python -m envparity.demo.model_server --environment staging --root DIR --port P --collector URL [--shadow URL]

With ``--shadow`` every request is mirrored to that server once answered
(``ShadowMirror``, as the sidecar proxy's ``--shadow`` does), under the same
request id, so the collector compares both environments' features per request.
Labels arrive later, in batches (``POST /outcomes``).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request

from envparity.agent import Agent, AgentSettings
from envparity.agent.capture.shadow import ShadowMirror
from envparity.demo.environments import DemoEnvironment
from envparity.demo.features import FeaturePipeline, reference_model

_JSON = {"content-type": "application/json"}


def create_app(env: DemoEnvironment, collector: str, window_s: float, shadow: str | None = None) -> FastAPI:
    artifact = json.loads(env.model_alias.read_text())
    model = reference_model(artifact["version"], artifact["seed"])
    pipeline = FeaturePipeline.of_environment(env.lock_file, env.config_file, env.normalisation_file)
    settings = AgentSettings(
        service="fraud",
        environment=env.name,
        collector=collector,
        spool_dir=env.root / "spool",
        sources=env.sources(),
    )
    agent = Agent(settings, window_s=window_s, fingerprint_every_s=60)
    mirror = ShadowMirror(shadow, 1.0, counter=agent.metrics.shadow) if shadow else None

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        if mirror is not None:  # the copies in flight reach the shadow before the agent flushes
            await mirror.aclose()
        agent.close()

    app = FastAPI(title=f"fraud model ({env.name})", lifespan=lifespan)

    def score(request_id: str | None, tx: dict[str, Any], started: float) -> dict[str, Any]:
        try:
            features = pipeline.features(tx)
            score = model.score(features)
        except (KeyError, TypeError, ValueError) as exc:  # recorded without features: none were computed
            agent.record(
                request_id=request_id,
                latency_s=time.perf_counter() - started,
                model_version=model.version,
                error=type(exc).__name__,
            )
            raise HTTPException(422, f"bad transaction: {exc}") from None
        agent.record(
            request_id=request_id,
            features=features,
            prediction=score,
            confidence=max(score, 1 - score),
            latency_s=time.perf_counter() - started,
            model_version=model.version,
        )
        return {"request_id": request_id, "score": score, "fraud": score > 0.5, "model_version": model.version}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        started = time.perf_counter()
        raw = await request.body()
        body = json.loads(raw)
        try:
            return score(body.get("request_id"), body.get("features") or {}, started)
        finally:
            if mirror is not None:
                mirror.mirror("POST", "/predict", "", _JSON, raw)

    @app.post("/outcomes")
    async def outcomes(request: Request) -> dict[str, int]:
        items = (await request.json())["outcomes"]
        for item in items:
            agent.record_outcome(item["request_id"], item["outcome"])
        return {"recorded": len(items)}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_version": model.version}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--collector", required=True)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--shadow", help="base URL of the server to mirror every request to")
    args = parser.parse_args()
    env = DemoEnvironment(args.environment, args.root)
    app = create_app(env, args.collector, args.window, args.shadow)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
