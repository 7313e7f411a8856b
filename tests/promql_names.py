"""What a PromQL expression names and does, for checking generated queries: metrics, labels, selectors, rates,
comparisons, and what promtool evaluates it to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

FUNCTIONS = {
    "rate", "increase", "irate", "delta", "histogram_quantile", "sum", "max", "min", "count", "avg", "time",
    "vector", "absent", "label_replace", "clamp_min", "clamp_max", "abs", "scalar", "topk", "bottomk",
}  # fmt: skip
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
# series Prometheus writes itself, with their own labels (an alert's series also carry its rule's labels), and
# the collector's process series, which prometheus-client writes
PROMETHEUS_SERIES = {
    "up": {"job", "instance"},
    "ALERTS": {"severity"},
    "ALERTS_FOR_STATE": {"severity"},
    "process_resident_memory_bytes": {"job", "instance"},
}
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b")
_SET_OPERATOR = re.compile(r"\b(?:and|or|unless)\b")
_COMPARISON = r"(?:[<>]=?|[!=]=)"
_NUMERIC_COMPARISON = re.compile(rf"{_COMPARISON}\s*(?:bool\s+)?[-+]?\.?\d|(?<![\w.])\.?\d[\d.e+-]*\s*{_COMPARISON}")


def names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression refers to."""
    labels = {m.group(1) for m in _MATCHER.finditer(expr)}
    for group in _GROUPING.finditer(expr):
        labels |= {name.strip() for name in group.group(1).split(",") if name.strip()}
    rest = _GROUPING.sub(" ", _MATCHER.sub(" ", expr))
    rest = _NUMBER.sub(" ", _RANGE.sub(" ", _STRING.sub(" ", rest)))
    metrics = {i for i in _IDENT.findall(rest) if i not in FUNCTIONS and i not in KEYWORDS}
    return metrics, labels


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, its matchers) for every place ``expr`` selects a metric; a bare name has no matchers ("")."""
    metrics, _ = names(expr)
    return [
        (match.group(1), match.group(2) or "")
        for metric in sorted(metrics)
        for match in re.finditer(rf"\b({re.escape(metric)})\b(?:\{{([^}}]*)\}})?", expr)
    ]


def expect_samples(workdir: Path, series: dict[str, str], expr: str, at: str, samples: list[dict[str, object]]) -> str:
    """promtool's verdict on ``expr`` at ``at`` over ``series`` (name -> values, one a minute): "" when it yields
    exactly ``samples`` (``{"labels": ..., "value": ...}``), else promtool's report of what it got."""
    test = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                "promql_expr_test": [{"expr": expr, "eval_time": at, "exp_samples": samples}],
            }
        ],
    }
    path = workdir / f"expr-{abs(hash((expr, at)))}.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    out = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    return "" if out.returncode == 0 else out.stdout + out.stderr


def counters_read_by_rate(expr: str, counter_series: set[str]) -> bool:
    """Every counter in ``expr`` sits in rate()/increase() over ``$__rate_interval``."""
    for name in counter_series:
        for match in re.finditer(rf"\b{re.escape(name)}\b(\{{[^}}]*\}})?(\[[^\]]*\])?", expr):
            window = match.group(2)
            before = expr[: match.start()]
            if window != "[$__rate_interval]" or not re.search(r"\b(rate|increase)\(\s*$", before):
                return False
    return True


def compares_with_number(expr: str, metric: str) -> bool:
    """Whether ``expr`` compares ``metric`` with a number (for a check's value: a threshold copied into a query).

    A comparison binds tighter than ``and``, ``or`` and ``unless``, so each of their operands is looked at
    alone: in ``value and on (...) status == 2`` only the status is compared.
    """
    bare = _GROUPING.sub(" ", _MATCHER.sub(" ", expr))
    return any(
        re.search(rf"\b{re.escape(metric)}\b", part) and _NUMERIC_COMPARISON.search(part)
        for part in _SET_OPERATOR.split(bare)
    )
