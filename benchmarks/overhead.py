"""Added latency of request capture, side by side with no capture, in the same run.

1. In process: the same ASGI prediction app called directly, bare and wrapped in
   ``EnvParityMiddleware`` (every request sampled, so every body is copied and
   parsed: the worst case), median and p99 per request over many calls.
2. Over loopback at a fixed rate (default 200 requests/s) with a JSON body of 30
   features: the app under uvicorn bare vs. with the middleware, and the bare app
   called directly vs. through ``envparity agent proxy``; median and p99 added,
   and the resident memory of the middleware server and the proxy at the end.

    .venv/bin/python benchmarks/overhead.py [--seconds 20] [--rate 200] [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envparity.localservers import free_port, wait_for_http

BODY = {"instances": [{f"feature_{i}": round(0.37 * i, 3) for i in range(25)} | {
    "merchant": "grocery", "country": "DE", "channel": "web", "device": "ios", "currency": "EUR"}]}  # fmt: skip
ANSWER = json.dumps({"predictions": [{"prediction": 0.42, "confidence": 0.91}]}).encode()


async def model(scope: dict, receive: Any, send: Any) -> None:
    """A model server's prediction route: reads the body, answers a fixed prediction."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": ANSWER})


def wrapped(spool: Path, sample_size: int = 100_000) -> Any:
    """The app in the middleware; the default sample size keeps (so parses) every request."""
    from envparity.agent import Agent, AgentSettings, EnvParityMiddleware

    settings = AgentSettings.from_env(
        service="bench", environment="bench", collector="http://127.0.0.1:9", spool_dir=spool
    )
    return EnvParityMiddleware(model, Agent(settings, window_s=3600, sample_size=sample_size, gpu_interval_s=None))


def in_process(calls: int) -> dict[str, tuple[float, float]]:
    """Median and p99 µs per request of the app called as ASGI, bare and wrapped."""
    body = json.dumps(BODY).encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "headers": [], "query_string": b""}

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_: dict) -> None:
        return None

    async def run(app: Any) -> list[float]:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await app(dict(scope), receive, send)
            times.append((time.perf_counter() - started) * 1e6)
        return times

    with tempfile.TemporaryDirectory() as every, tempfile.TemporaryDirectory() as none:
        apps = {
            "bare app": model,
            "middleware, all sampled": wrapped(Path(every)),
            "middleware, none sampled": wrapped(Path(none), sample_size=1),
        }
        out = {name: summary(asyncio.run(run(app))) for name, app in apps.items()}
        for app in list(apps.values())[1:]:
            app.agent.close()
    return out


def serve(mode: str, port: int) -> None:
    """Child process: the bare app, or (mode ``both``) the bare app under ``/bare`` beside the wrapped one.

    Bare and wrapped in one process and one event loop, so that their difference is
    the middleware's and not two processes' scheduling (an A/A run of two bare
    processes differed by 75 µs at the median on the 2-core machine).
    """
    import uvicorn

    with tempfile.TemporaryDirectory() as spool:
        app: Any = model
        if mode == "both":
            middleware = wrapped(Path(spool), sample_size=2000)

            async def app(scope: dict, receive: Any, send: Any) -> None:
                target = model if scope.get("path", "").startswith("/bare/") else middleware
                await target(scope, receive, send)

        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc, timeout_s=60)
    return proc


def paced(targets: dict[str, tuple[int, str]], rate: float, seconds: float) -> dict[str, list[float]]:
    """Latencies (µs) of POSTs to every target at ``rate`` each, interleaved so that noise hits all alike.

    One keep-alive connection per target (http.client: the client's own cost stays small and equal).
    """
    body = json.dumps(BODY).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=10) for name, (port, _) in targets.items()}
    times: dict[str, list[float]] = {name: [] for name in targets}

    def post(name: str) -> float:
        conn = conns[name]
        started = time.perf_counter()
        conn.request("POST", targets[name][1], body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, name
        return (time.perf_counter() - started) * 1e6

    for _ in range(int(rate)):  # warm-up
        for name in targets:
            post(name)
    order = list(targets)
    next_at = time.perf_counter()
    end = next_at + seconds
    while next_at < end:
        time.sleep(max(0.0, next_at - time.perf_counter()))
        order.append(order.pop(0))  # rotate who goes first
        for name in order:
            times[name].append(post(name))
        next_at += 1.0 / rate
    for conn in conns.values():
        conn.close()
    return times


def rss_mib(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def summary(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=100)[98]


def over_loopback(rate: float, seconds: float) -> None:
    me = [sys.executable, __file__, "serve"]
    ports = {name: free_port() for name in ("both", "upstream", "proxy")}
    procs = {name: start([*me, name, str(ports[name])], ports[name]) for name in ("both", "upstream")}
    with tempfile.TemporaryDirectory() as spool:
        proxy_cmd = [
            sys.executable, "-m", "envparity", "agent", "proxy", "--listen", f"127.0.0.1:{ports['proxy']}",
            "--upstream", f"http://127.0.0.1:{ports['upstream']}", "--collector", "http://127.0.0.1:9",
            "--service", "bench", "--environment", "bench", "--spool", spool, "--window", "3600",
            "--gpu-interval", "0", "--sample-size", "2000",
        ]  # fmt: skip
        procs["proxy"] = start(proxy_cmd, ports["proxy"])
        targets = {
            "bare app": (ports["both"], "/bare/v1/predict"),
            "with middleware": (ports["both"], "/v1/predict"),
            "direct to upstream": (ports["upstream"], "/v1/predict"),
            "through the proxy": (ports["proxy"], "/v1/predict"),
        }
        try:
            runs = {name: summary(times) for name, times in paced(targets, rate, seconds).items()}
            rss = {"middleware server": rss_mib(procs["both"].pid), "proxy": rss_mib(procs["proxy"].pid)}
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=60)
    print(f"\nover loopback, {rate:.0f} requests/s to each, interleaved, for {seconds:.0f} s, keep-alive (µs):")
    print(f"{'':28}{'median':>10}{'p99':>10}")
    for name, (median, p99) in runs.items():
        print(f"{name:28}{median:10.0f}{p99:10.0f}")
    for label, (a, b), goal in (
        ("added by the middleware", ("with middleware", "bare app"), "goal <= 50 µs median"),
        ("added by the proxy", ("through the proxy", "direct to upstream"), "goal <= 2,000 µs p50, <= 5,000 µs p99"),
    ):
        print(f"{label:28}{runs[a][0] - runs[b][0]:10.0f}{runs[a][1] - runs[b][1]:10.0f}   ({goal})")
    for name, (now, peak) in rss.items():
        print(f"RSS of the {name}: {now:.1f} MiB now, {peak:.1f} MiB peak (goal <= 80 MB)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    print(f"request body: {len(json.dumps(BODY))} bytes, 30 features")
    print("sampled requests have their bodies copied and parsed; with the default 2,000 samples per 60 s window")
    print("about 45 % of requests are sampled at 200 requests/s (Algorithm L keeps k(1 + ln(n/k)) of n)")
    print(f"\nin process, {args.calls} calls of the ASGI app (µs per request, no network):")
    print(f"{'':28}{'median':>10}{'p99':>10}")
    results = in_process(args.calls)
    bare = results.pop("bare app")
    print(f"{'bare app':28}{bare[0]:10.1f}{bare[1]:10.1f}")
    for name, (median, p99) in results.items():
        print(f"{name:28}{median:10.1f}{p99:10.1f}   added {median - bare[0]:.1f} median, {p99 - bare[1]:.1f} p99")
    over_loopback(args.rate, args.seconds)


if __name__ == "__main__":
    os.environ.setdefault("ENVPARITY_LOG_LEVEL", "WARNING")
    main()
