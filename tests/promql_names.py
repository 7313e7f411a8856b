"""What a PromQL expression names and does, for checking generated queries: metrics, labels, rates, comparisons."""

from __future__ import annotations

import re

FUNCTIONS = {
    "rate", "increase", "irate", "delta", "histogram_quantile", "sum", "max", "min", "count", "avg", "time",
    "vector", "absent", "label_replace", "clamp_min", "clamp_max", "abs", "scalar", "topk", "bottomk",
}  # fmt: skip
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
PROMETHEUS_SERIES = {"up": {"job", "instance"}, "ALERTS": set(), "ALERTS_FOR_STATE": set()}
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
