"""The time evidence of the probable causes: when each fingerprint key took its value, when each symptom began.

Pure: the store hands up an environment's fingerprint history and the previous
evaluation's streaks; these functions turn them into the ``changed_at`` and
``first_failed`` maps that ``causes.rank_causes`` weighs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise

from envparity.agent.wire import Fingerprint
from envparity.collector.parity.causes import symptoms_of
from envparity.collector.parity.diff_rules import DEFAULT_RULES, DiffRule
from envparity.collector.parity.fingerprint_diff import diff_fingerprints
from envparity.collector.parity.model import Check

History = Sequence[tuple[datetime, Fingerprint]]  # an environment's fingerprints, oldest first, each from when it came


def key_changes(histories: Iterable[History], rules: Iterable[DiffRule] = DEFAULT_RULES) -> dict[str, datetime]:
    """Per fingerprint key, the last time its value changed in any of the environments' histories.

    A change is a difference (under ``rules``: ignored keys never change) between two
    consecutive fingerprints of one environment, dated by the later one. An environment's
    first fingerprint changes nothing: what it held before is not known.
    """
    rules = tuple(rules)
    changed: dict[str, datetime] = {}
    for history in histories:
        for (_, before), (at, after) in pairwise(history):
            for item in diff_fingerprints(before, after, rules):
                changed[item.key] = max(at, changed.get(item.key, at))
    return changed


def first_failed(checks: Sequence[Check], previous: Mapping[str, datetime], at: datetime) -> dict[str, datetime]:
    """When each failing symptom of ``checks`` began: the start of the previous evaluation's streak, else ``at``.

    ``previous`` is what the previous stored evaluation of the pair recorded (symptom ->
    first failed); a symptom absent from it failed first now.
    """
    return {s.name: previous.get(s.name, at) for s in symptoms_of(checks)}
