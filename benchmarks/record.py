"""Cost of ``agent.record()`` per call, side by side with prometheus-client and a dict append.

Single thread and 8 threads; median and p99 of per-call times measured in
batches (timer overhead divided out). With ``--rss-minutes M`` it also runs a
real agent (spool, pushes to a collector on loopback) at 500 records/s for M
minutes and prints its resident memory.

    .venv/bin/python benchmarks/record.py [--calls 200000] [--rss-minutes 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram

from envparity.agent.recorder import Recorder
from envparity.agent.wire import LATENCY_BUCKETS_S
from envparity.localservers import free_port, wait_for_http

BATCH = 100
FEATURES = {"amount": 12.5, "merchant": "grocery", "hour": 13, "distance_km": 4.2, "card_present": True}


def per_call_us(fn: Callable[[], None], calls: int, threads: int) -> tuple[float, float]:
    """Median and p99 of per-call time in µs, from batches of BATCH calls, over all threads."""
    samples: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        local = []
        for _ in range(calls // threads // BATCH):
            start = time.perf_counter_ns()
            for _ in range(BATCH):
                fn()
            local.append((time.perf_counter_ns() - start) / BATCH / 1000)
        with lock:
            samples.extend(local)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def bench_calls(calls: int) -> None:
    recorder = Recorder(sample_size=2000)
    hist = Histogram("bench_latency_seconds", "x", registry=CollectorRegistry(), buckets=LATENCY_BUCKETS_S)
    records: list[tuple] = []
    cases = {
        "envparity Recorder.record": lambda: recorder.record(
            request_id="r-1",
            features=FEATURES,
            prediction=0.93,
            confidence=0.93,
            latency_s=0.012,
            model_version="v7",
        ),
        "prometheus_client Histogram.observe": lambda: hist.observe(0.012),
        "plain list append (no lock)": lambda: records.append(("r-1", FEATURES, 0.93, 0.012)),
    }
    print(f"{'operation':40s} {'threads':>7s} {'median µs':>10s} {'p99 µs':>8s}")
    results = {}
    for threads in (1, 8):
        for name, fn in cases.items():
            records.clear()
            med, p99 = per_call_us(fn, calls, threads)
            results[(name, threads)] = med
            print(f"{name:40s} {threads:7d} {med:10.3f} {p99:8.3f}")
    for threads in (1, 8):
        ratio = (
            results[("envparity Recorder.record", threads)] / results[("prometheus_client Histogram.observe", threads)]
        )
        print(f"record / observe ({threads} thread{'s' if threads > 1 else ''}): {ratio:.2f}x")


RSS_SCRIPT = """
import resource, sys, time
from envparity.agent import Agent, AgentSettings
from envparity.agent.fingerprint import FingerprintSources
s = AgentSettings(service="bench", environment="rss", collector=sys.argv[1], spool_dir=sys.argv[2],
                  sources=FingerprintSources(env_prefixes=("NONE_",)))
agent = Agent(s, window_s=60)
features = {"amount": 12.5, "merchant": "grocery", "hour": 13, "distance_km": 4.2, "card_present": True}
start = time.monotonic()
deadline = start + float(sys.argv[3]) * 60
i = 0
next_report = start + 60
while time.monotonic() < deadline:
    agent.record(request_id=f"r{i}", features={**features, "amount": i % 1000}, prediction=0.5,
                 latency_s=0.01)
    i += 1
    ahead = start + i / 500 - time.monotonic()  # paced at 500 records/s
    if ahead > 0:
        time.sleep(ahead)
    if time.monotonic() > next_report:
        rss = int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
        print(f"  {i} records, RSS {rss:.1f} MiB", flush=True)
        next_report += 60
rss = int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
agent.close()
print(f"RSS after {sys.argv[3]} min at about 500 records/s: {rss:.1f} MiB (peak {peak:.1f} MiB), {i} records")
"""


def bench_rss(minutes: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="envparity-rss-"))
    port = free_port()
    collector = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envparity",
            "collector",
            "serve",
            "--db",
            str(workdir / "c.duckdb"),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"},
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", proc=collector)
        subprocess.run(
            [
                sys.executable,
                "-c",
                RSS_SCRIPT,
                f"http://127.0.0.1:{port}",
                str(workdir / "spool"),
                str(minutes),
            ],
            check=True,
        )
    finally:
        collector.terminate()
        collector.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rss-minutes", type=float, default=0.0)
    args = parser.parse_args()
    print(f"record() benchmark, {args.calls} calls per case, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    bench_calls(args.calls)
    if args.rss_minutes:
        bench_rss(args.rss_minutes)


if __name__ == "__main__":
    main()
