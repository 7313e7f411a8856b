"""Fingerprint histories read from a bound (``since``) give the same key changes as the whole history; both backends.

Staging runs numpy 1.0 for an hour, is silent for nine days, and comes back on numpy 2.0
(a redeploy after a long silence: the change a bounded read must not miss); production
changes numpy once, five days before the end, and then runs on. Read from a day before the
end, staging's history starts with what it ran before (its snapshot nine days earlier) and
the change is still found, dated as by the whole history; production's older change is
outside the bound, and its history holds no change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import base_fingerprint, make_snapshot

from envparity.agent.wire import Fingerprint, FingerprintBody, seal_fingerprint
from envparity.collector.parity.timeline import key_changes
from envparity.collector.store import Store
from envparity.collector.store.history import fingerprint_histories

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _numpy(version: str) -> Fingerprint:
    data = base_fingerprint().model_dump(mode="json", exclude={"hash"})
    data["code"]["packages"]["numpy"] = version
    return seal_fingerprint(FingerprintBody.model_validate(data))


def _push(store: Store, environment: str, sequence: int, end: datetime, fp: Fingerprint) -> None:
    snap = make_snapshot(agent_id=f"{environment}-1", sequence=sequence, environment=environment, fingerprint=fp)
    header = snap.header.model_copy(update={"window_start": end - timedelta(minutes=1), "window_end": end})
    store.ingest(snap.model_copy(update={"header": header}), f"{environment}{sequence}".ljust(64, "0"), end)


def _store(url: str) -> Store:
    store = Store(url)
    old, new = _numpy("1.0"), _numpy("2.0")
    for minute in range(60):  # staging: an hour on numpy 1.0, ten days before the end
        _push(store, "staging", minute, END - timedelta(days=10) + timedelta(minutes=minute), old)
    for minute in range(30):  # then nine days of silence, and numpy 2.0 for the last half hour
        _push(store, "staging", 100 + minute, END - timedelta(minutes=30 - minute), new)
    for hour in range(24 * 7):  # production: numpy 1.0 until five days before the end, 2.0 since
        at = END - timedelta(days=7) + timedelta(hours=hour)
        _push(store, "production", hour, at, old if at < END - timedelta(days=5) else new)
    return store


def test_a_bounded_history_finds_the_same_recent_changes(store_url):
    store = _store(store_url)
    try:
        whole = fingerprint_histories(store, "fraud", ["staging", "production"], END)
        since = END - timedelta(days=1)
        bounded = fingerprint_histories(store, "fraud", ["staging", "production"], END, since)
    finally:
        store.close()
    redeployed = END - timedelta(minutes=31)  # the start of the window of staging's first snapshot on numpy 2.0
    assert [at for at, _ in whole["staging"]] == [END - timedelta(days=10, minutes=1), redeployed]
    assert [at for at, _ in bounded["staging"]] == [since, redeployed]
    assert [fp.code.packages["numpy"] for _, fp in bounded["staging"]] == ["1.0", "2.0"]
    assert key_changes([bounded["staging"]]) == key_changes([whole["staging"]]) == {"package:numpy": redeployed}
    assert len(whole["production"]) == 2 and len(bounded["production"]) == 2
    assert key_changes([bounded["production"]]) == {}  # the change five days ago is not read
    assert key_changes([whole["production"]]) == {"package:numpy": whole["production"][1][0]}
