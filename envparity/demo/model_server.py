"""A model server of the demo: FastAPI scoring the fraud model, an envparity agent recording in-process.

python -m envparity.demo.model_server --environment staging --root DIR --port P --collector URL
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
from envparity.demo.environments import DemoEnvironment
from envparity.demo.model import FraudModel, Normalisation


def create_app(env: DemoEnvironment, collector: str, window_s: float) -> FastAPI:
    artifact = json.loads(env.model_alias.read_text())
    model = FraudModel.train(artifact["version"], artifact["seed"], Normalisation.load(env.normalisation_file))
    settings = AgentSettings(
        service="fraud",
        environment=env.name,
        collector=collector,
        spool_dir=env.root / "spool",
        sources=env.sources(),
    )
    agent = Agent(settings, window_s=window_s, fingerprint_every_s=60)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        agent.close()

    app = FastAPI(title=f"fraud model ({env.name})", lifespan=lifespan)

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        started = time.perf_counter()
        body = await request.json()
        request_id, tx = body.get("request_id"), body.get("features") or {}
        try:
            features = {
                "merchant": tx["merchant"],
                "card_present": tx["card_present"],
                "amount": tx["amount"],
                **model.norm.scale(tx),
            }
            score = model.score(tx)
        except (KeyError, TypeError, ValueError) as exc:
            agent.record(
                request_id=request_id,
                features=tx,
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
        return {
            "request_id": request_id,
            "score": score,
            "fraud": score > 0.5,
            "model_version": model.version,
        }

    @app.post("/outcome")
    async def outcome(request: Request) -> dict[str, str]:
        body = await request.json()
        agent.record_outcome(body["request_id"], body["outcome"])
        return {"status": "ok"}

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
    args = parser.parse_args()
    env = DemoEnvironment(args.environment, args.root)
    uvicorn.run(create_app(env, args.collector, args.window), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
