"""Which pairs of environments the collector evaluates when a service names none, and where alerts page.

A paging environment (production and its usual aliases by default) is what an
on-call engineer is woken for, so it is the *target* of its pairs: judged against
its own recent past (``production@24h``: the same window a day earlier) and
against the environment promoted into it (staging before production). The other
environments form the promotion chain below it, each the target of the one
promoted into it (dev before staging). Promotion order comes from common stage
names; environments with other names sit between development and staging, in
alphabetical order. A service whose environments this does not fit names its
pairs in the thresholds file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

from pydantic import BaseModel, ConfigDict

# Where an alert pages (critical) rather than opens a ticket (warning), unless configured otherwise:
# the collector's default pairs and the generated alert rules both start from this list.
PAGING_ENVIRONMENTS: tuple[str, ...] = ("production", "prod", "prd", "live")
PAGING_ENVIRONMENTS_VARIABLE = "ENVPARITY_PAGING_ENVIRONMENTS"
HISTORY_OFFSET = "24h"  # a paging environment is also judged against itself this much earlier

_DEVELOPMENT = ("local", "dev", "development", "sandbox", "ci", "test", "testing", "qa")
_PRE_PRODUCTION = ("uat", "staging", "stage", "stg", "preprod", "pre-prod", "preproduction", "canary")


class Pair(BaseModel):
    """A baseline and the target judged against it."""

    model_config = ConfigDict(extra="forbid")

    baseline: str
    target: str


def parse_environments(text: str) -> tuple[str, ...]:
    """A comma-separated list of environment names (``ENVPARITY_PAGING_ENVIRONMENTS``); empty means none."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _stage(environment: str) -> tuple[int, int, str]:
    """Sort key along the promotion order: development, other names, pre-production stages."""
    name = environment.lower()
    if name in _DEVELOPMENT:
        return 0, _DEVELOPMENT.index(name), name
    if name in _PRE_PRODUCTION:
        return 2, _PRE_PRODUCTION.index(name), name
    return 1, 0, name


def default_pairs(environments: Iterable[str], paging: Sequence[str]) -> list[Pair]:
    """Each paging environment against the environment promoted into it and its own past; then the chain below."""
    names = sorted(set(environments))
    targets = [e for e in names if e in paging]
    chain = sorted((e for e in names if e not in paging), key=_stage)
    pairs = []
    for target in targets:
        if chain:
            pairs.append(Pair(baseline=chain[-1], target=target))
        pairs.append(Pair(baseline=f"{target}@{HISTORY_OFFSET}", target=target))
    pairs += [Pair(baseline=lower, target=upper) for lower, upper in pairwise(chain)]
    return pairs
