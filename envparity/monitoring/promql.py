"""PromQL pieces shared by the alert-rule and dashboard builders, named from the collector's own definitions.

Metric names are looked up in the catalogue (``envparity.agent.catalogue``), check
names and the layers each check appears in in the check specs
(``envparity.collector.parity.check_specs``), layer names in the model's
``LAYERS``, and the values of ``envparity_check_status`` beside it in the
catalogue. A renamed metric, check or layer therefore fails the
build instead of leaving a query that matches nothing. No threshold is copied
here: an alert compares the collector's status, never the measured value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from envparity.agent.catalogue import CHECK_STATUS_VALUES, PAIR, series_names, spec
from envparity.collector.parity.check_specs import CHECKS, check_spec
from envparity.collector.parity.model import LAYERS

WARN = CHECK_STATUS_VALUES["warn"]
FAIL = CHECK_STATUS_VALUES["fail"]
FAILING = f"== {FAIL}"  # the comparison that keeps a check's series while the collector fails it
PAIR_BY = ", ".join(PAIR)
CHECK_BY = ", ".join(spec("envparity_check_status").labels)
FINGERPRINT_LAYERS = tuple(name for name in LAYERS if name.startswith("fingerprint."))
_SERIES = series_names()


def select(series: str, matchers: str = "") -> str:
    """``series{matchers}`` for a series a scrape shows (``_bucket`` of a histogram, say), checked in the catalogue."""
    if series not in _SERIES:
        raise KeyError(f"{series} is not a series of the metric catalogue (agent/catalogue.py)")
    return f"{series}{{{matchers}}}" if matchers else series


def layer(name: str) -> str:
    """``layer="name"`` for one of the model's layers; ``KeyError`` names an unknown one."""
    if name not in LAYERS:
        raise KeyError(f"no layer named {name!r}")
    return f'layer="{name}"'


def one_of(values: Iterable[str]) -> str:
    """A regular expression (for ``=~``) matching exactly ``values``, quoted for a PromQL string."""
    return "|".join(re.escape(value) for value in values).replace("\\", "\\\\")


def check(name: str, in_layer: str | None = None) -> str:
    """``layer="...", check="..."`` of one check; the layer may be left out when the check has only one."""
    layers = check_spec(name).layers
    chosen = in_layer or (layers[0] if len(layers) == 1 else None)
    if chosen is None or chosen not in layers:
        raise ValueError(f"check {name!r} appears in {', '.join(layers)}: name one of them, not {in_layer!r}")
    return f'{layer(chosen)}, check="{name}"'


def checks(names: Iterable[str]) -> str:
    """``check=~"..."`` matching the named checks, each confirmed by the check specs."""
    return f'check=~"{one_of(check_spec(name).name for name in names)}"'


def judged_like(name: str) -> tuple[str, ...]:
    """The checks judged by the same threshold field of ``Thresholds`` as ``name``, ``name`` among them."""
    field = check_spec(name).threshold
    if field is None:
        raise ValueError(f"no threshold judges the check {name!r}")
    return tuple(c.name for c in CHECKS if c.threshold == field)


def value_while(matchers: str, status: str) -> str:
    """A check's measured value, kept only while its status satisfies ``status`` (e.g. ``== 2``)."""
    value, verdict = select("envparity_check_value", matchers), select("envparity_check_status", matchers)
    return f"{value} and on ({CHECK_BY}) {verdict} {status}"


def of_job(series: str, job: str, matchers: str = "") -> str:
    """A series of the collector's scrape job that the catalogue does not hold: Prometheus's own ``up``, or
    prometheus-client's ``process_resident_memory_bytes``."""
    return f'{series}{{job="{job}"{", " + matchers if matchers else ""}}}'


def collector_up(job: str, matchers: str = "") -> str:
    """1 while Prometheus reaches the collector's scrape job, 0 when a scrape fails."""
    return of_job("up", job, matchers)
