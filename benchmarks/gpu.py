"""Cost of GPU telemetry: one sampling pass over all GPUs, and the sampler thread's CPU per second.

Runs on whatever NVML the process finds: a real driver, or the test suite's fake
library through ``LD_LIBRARY_PATH``. Side by side, in the same run: the same
reads through raw ``pynvml`` calls (no envparity bookkeeping), which is what a
hand-written exporter loop costs. With ``--json`` it also prints the
fingerprint's GPUs and one window of metrics.

    .venv/bin/python benchmarks/gpu.py [--passes 200] [--seconds 60] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import pynvml

from envparity.agent.gpu import GpuSampler, _read_device, gpu_identities


def per_pass_ms(fn, passes: int) -> tuple[float, float]:
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def raw_pass() -> None:
    for i in range(pynvml.nvmlDeviceGetCount()):
        try:
            _read_device(pynvml.nvmlDeviceGetHandleByIndex(i))
        except pynvml.NVMLError:
            continue


def thread_cpu(sampler: GpuSampler, seconds: float, interval: float) -> float:
    """CPU seconds per wall second of a thread sampling every ``interval`` seconds."""
    result = {}

    def run() -> None:
        start_cpu, start = time.thread_time(), time.monotonic()
        while time.monotonic() - start < seconds:
            sampler.sample()
            time.sleep(interval)
        result["cpu"] = (time.thread_time() - start_cpu) / (time.monotonic() - start)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return result["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print the GPUs' identity and one window")
    args = parser.parse_args()
    sampler = GpuSampler()
    if not sampler.enabled:
        raise SystemExit("no NVML here: run on a GPU machine or with LD_LIBRARY_PATH pointing at the fake library")
    identities = gpu_identities()
    print(
        f"{len(identities)} GPU(s): "
        + ", ".join(f"{g.name} ({g.memory_total_bytes / 2**30:.0f} GiB)" for g in identities)
    )
    med, p99 = per_pass_ms(sampler.sample, args.passes)
    rmed, rp99 = per_pass_ms(raw_pass, args.passes)
    sampler.seal()
    print(f"{'sampling pass over all GPUs':40s} median {med:7.3f} ms  p99 {p99:7.3f} ms")
    print(f"{'raw pynvml reads (same calls)':40s} median {rmed:7.3f} ms  p99 {rp99:7.3f} ms")
    cpu = thread_cpu(sampler, args.seconds, args.interval)
    print(f"sampler thread every {args.interval:g} s for {args.seconds:g} s: {cpu * 100:.3f} % of one core")
    if args.json:
        window = sampler.seal()
        print(
            json.dumps(
                {"gpus": [g.model_dump() for g in identities], "window": window.model_dump() if window else None},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
