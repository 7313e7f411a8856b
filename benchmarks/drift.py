"""Drift on 1,000,000 rows x 20 features per side: envparity against Evidently, in the same run.

Both tools read the same Parquet files. Evidently runs in a virtual environment of
its own (its pins clash with ours: pandas < 3), made on first use from
``benchmarks/evidently-requirements.txt``. Printed: seconds end to end, peak RSS of
each process (GNU time, Debian package ``time``), the ratios, and the largest difference between
envparity's ``evidently`` PSI binning and Evidently's own PSI per feature.
Then ``envparity check`` on a DuckDB store holding the same volume per environment.
Each envparity command runs ``--repeat`` times (the median is printed with the spread:
the timings of a shared machine vary); Evidently runs once.

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--features 20] [--skip-evidently]
                                          [--evidently-presets psi,default] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from synthetic_store import build_store

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = Path(os.environ.get("EVIDENTLY_VENV", Path(tempfile.gettempdir()) / "envparity-evidently-venv"))

EVIDENTLY_SCRIPT = """
import json, sys
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref, cur, method = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), sys.argv[3]
preset = DataDriftPreset(method="psi") if method == "psi" else DataDriftPreset()
result = Report([preset]).run(cur, ref).dict()
values = {}
for metric in result["metrics"]:
    config = metric["config"]
    if config.get("type", "").endswith("ValueDrift"):
        values[config["column"]] = metric["value"]
print(json.dumps(values))
"""


def run_with_rss(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one child process.

    The peak comes from GNU time (``/usr/bin/time -f %M``): the rusage of a child of this
    process would report at least this process's own high-water mark (Linux carries it
    over fork and exec), and this process holds the generated data.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=out, stderr=err, text=True)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {stderr[-2000:]}")
    return elapsed, int(stderr.strip().splitlines()[-1]) / 1024, stdout


def repeated(cmd: list[str], times: int) -> tuple[float, str, float, str]:
    """Median wall seconds, the spread (min-max), the largest peak RSS and one stdout over ``times`` runs."""
    runs = [run_with_rss(cmd) for _ in range(times)]
    seconds = sorted(r[0] for r in runs)
    spread = f"{seconds[0]:.2f}-{seconds[-1]:.2f}" if times > 1 else ""
    return float(np.median(seconds)), spread, max(r[1] for r in runs), runs[-1][2]


def write_data(workdir: Path, rows: int, features: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(42)
    con = duckdb.connect()
    paths = []
    for name, shift in (("reference", 0.0), ("current", 0.1)):
        columns = {f"f{j}": rng.normal(shift if j % 4 == 0 else 0.0, 1.0, rows) for j in range(features)}
        table = pa.table(columns)
        path = workdir / f"{name}.parquet"
        con.register("t", table)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
        con.unregister("t")
        paths.append(path)
    return paths[0], paths[1]


def ensure_evidently() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "evidently-requirements.txt")], check=True
        )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each envparity command (median printed)")
    parser.add_argument(
        "--evidently-presets", default="psi,default", help="Evidently presets to run: psi, default or both"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="envparity-drift-"))
    ref, cur = write_data(workdir, args.rows, args.features)
    print(f"drift benchmark: {args.rows:,} rows x {args.features} features per side, {os.cpu_count()} CPUs")
    envparity = [sys.executable, "-m", "envparity", "compare", str(ref), str(cur), "--format", "json"]
    results = {}
    for label, extra in (
        ("envparity compare (quantile PSI)", []),
        ("envparity compare (evidently PSI)", ["--psi-binning", "evidently"]),
    ):
        seconds, spread, rss, out = repeated(envparity + extra, args.repeat)
        results[label] = (seconds, rss, out)
        print(f"  {label:42s} {seconds:7.2f} s  peak RSS {rss:7.0f} MiB  (median of {args.repeat}: {spread} s)")
    if not args.skip_evidently:
        python = ensure_evidently()
        presets = set(args.evidently_presets.split(","))
        for label, method in (
            ("Evidently DataDriftPreset(method='psi')", "psi"),
            ("Evidently DataDriftPreset() default", "default"),
        ):
            if method not in presets:
                continue
            seconds, rss, out = run_with_rss([str(python), "-c", EVIDENTLY_SCRIPT, str(ref), str(cur), method])
            results[label] = (seconds, rss, out)
            print(f"  {label:42s} {seconds:7.2f} s  peak RSS {rss:7.0f} MiB")
        ours = {
            c["subject"]: c["value"]
            for c in json.loads(results["envparity compare (evidently PSI)"][2])["checks"]
            if c["check"] == "psi"
        }
        theirs = json.loads(results["Evidently DataDriftPreset(method='psi')"][2])
        worst = max(abs(ours[k] - theirs[k]) for k in theirs)
        e_s, e_rss, _ = results["Evidently DataDriftPreset(method='psi')"]
        o_s, o_rss, _ = results["envparity compare (evidently PSI)"]
        print(f"\n  speed-up against Evidently's PSI preset: {e_s / o_s:.1f}x; peak memory {o_rss / e_rss:.2f} of its")
        print(f"  largest |PSI difference| over {len(theirs)} features (evidently binning): {worst:.3g}")
    db = workdir / "store.duckdb"
    started = time.perf_counter()
    build_store(db, ["svc"], {"production": 0.0, "staging": 0.1}, args.rows, args.features)
    print(
        f"\n  store with {args.rows:,} samples x {args.features} features per environment built in "
        f"{time.perf_counter() - started:.1f} s"
    )
    seconds, spread, rss, out = repeated(
        [
            sys.executable,
            "-m",
            "envparity",
            "check",
            "--db",
            str(db),
            "--service",
            "svc",
            "--baseline",
            "production",
            "--target",
            "staging",
            "--format",
            "json",
        ],
        args.repeat,
    )
    report = json.loads(out)
    failing = sorted({c["subject"] for c in report["checks"] if c["status"] == "fail"})
    print(
        f"  envparity check --db (1h window)         {seconds:7.2f} s  peak RSS {rss:7.0f} MiB  "
        f"(median of {args.repeat}: {spread} s); failing features: {', '.join(failing)}"
    )


if __name__ == "__main__":
    main()
