"""The spool's API: pending entries, acknowledge and retry across a restart, dead letters, old spools delivered."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
from helpers import base_fingerprint, make_snapshot

from envparity.agent import Agent, AgentSettings
from envparity.agent.fingerprint import FingerprintSources
from envparity.agent.spool import Spool

FP = base_fingerprint()


def snapshot_json(sequence: int, agent_id: str = "old-agent", by_hash: bool = False) -> bytes:
    """A snapshot's JSON; ``by_hash`` names the fingerprint by its hash alone."""
    snap = make_snapshot(agent_id=agent_id, sequence=sequence, acked=FP.hash if by_hash else None)
    return snap.model_dump_json().encode()


def fill(spool: Spool, count: int) -> list[int]:
    sequences = []
    for _ in range(count):
        sequence = spool.next_sequence()
        spool.put(sequence, snapshot_json(sequence))
        sequences.append(sequence)
    return sequences


def test_pending_acknowledge_and_retry_across_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", agent_id="old-agent")
    assert fill(spool, 3) == [0, 1, 2]
    entries = list(spool.pending())
    assert [e.sequence for e in entries] == [0, 1, 2]
    assert json.loads(gzip.decompress(entries[1].body))["header"]["sequence"] == 1
    assert all(e.attempts == 0 for e in entries)
    spool.acknowledge(entries[0])
    assert spool.state.acked_fingerprint == FP.hash  # later snapshots may name it by hash
    assert spool.retry_later(entries[1]) == 0  # the collector was away: not counted against the snapshot
    assert spool.retry_later(entries[1], failed=True) == 1
    assert spool.retry_later(next(spool.pending()), failed=True) == 2
    assert [(e.sequence, e.attempts) for e in spool.pending()] == [(1, 2), (2, 0)]
    assert spool.pending_count() == 2 and spool.pending_bytes() > 0
    spool.close()

    reopened = Spool(tmp_path / "spool")
    # acknowledged stays gone, the rest waits, with the collector's failures on it counted durably
    assert [(e.sequence, e.attempts) for e in reopened.pending()] == [(1, 2), (2, 0)]
    assert reopened.state.acked_fingerprint == FP.hash and reopened.state.agent_id == "old-agent"
    assert reopened.next_sequence() == 3
    reopened.close()


def test_an_entry_acknowledged_meanwhile_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    fill(spool, 2)
    walk = spool.pending()
    first = next(walk)
    (spool.root / "pending" / "000000000001.json.gz").unlink()  # dropped by the bound while the walk went on
    spool.acknowledge(first)
    assert list(walk) == []
    spool.close()


def test_dead_letter_keeps_the_collectors_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    fill(spool, 1)
    spool.dead_letter(next(spool.pending()), "HTTP 422: window_end is before window_start")
    assert spool.pending_count() == 0 and spool.losses() == {"refused": 1}
    assert (spool.root / "dead" / "000000000000.json.gz").exists()
    assert "HTTP 422" in (spool.root / "dead" / "000000000000.error.txt").read_text()
    spool.close()


def test_full_fingerprint_put_back_durably(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put(spool.next_sequence(), snapshot_json(0, by_hash=True))
    entry = next(spool.pending())
    assert spool.with_full_fingerprint(entry) is None  # the spool does not hold it
    spool.save_fingerprint(FP.hash, FP.model_dump_json().encode())
    full = spool.with_full_fingerprint(entry)
    assert full is not None and full.sequence == entry.sequence
    assert json.loads(gzip.decompress(full.body))["fingerprint"]["hash"] == FP.hash
    assert next(spool.pending()).body == full.body  # rewritten in place, for a restart too
    spool.close()


def write_old_spool(root: Path, agent_id: str) -> None:
    """A spool as the first agent release left it: its state, a full and a hash-only snapshot, the fingerprint."""
    for sub in ("pending", "fingerprints", "dead"):
        (root / sub).mkdir(parents=True)
    state = {"agent_id": agent_id, "next_sequence": 2, "acked_fingerprint": None, "dropped": 3, "dead_lettered": 1}
    (root / "state.json").write_text(json.dumps(state))
    (root / "fingerprints" / f"{FP.hash}.json").write_text(FP.model_dump_json())
    for sequence, by_hash in ((0, True), (1, False)):
        body = gzip.compress(snapshot_json(sequence, agent_id, by_hash), compresslevel=6)
        (root / "pending" / f"{sequence:012d}.json.gz").write_bytes(body)


def test_an_old_spool_is_delivered_after_an_upgrade(start_collector, tmp_path: Path) -> None:
    collector = start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}")
    spool = tmp_path / "spool"
    write_old_spool(spool, "old-agent")
    settings = AgentSettings(
        service="fraud",
        environment="staging",
        collector=collector.url,
        spool_dir=spool,
        sources=FingerprintSources(env_prefixes=("ENVPARITY_TEST_",)),
    )
    agent = Agent(settings, window_s=60, gpu_interval_s=None, start=False)
    assert agent.agent_id == "old-agent"
    assert agent.spool.losses() == {"spool_bound": 3, "refused": 1}  # the first release's counts carried over
    # the collector lacks the fingerprint the first snapshot names: it goes back in, then all three are stored
    assert agent.close()
    assert list(spool.glob("pending/*")) == [] and list(spool.glob("dead/*")) == []
    staging = httpx.get(f"{collector.url}/v1/environments").json()["environments"][0]
    assert staging["snapshots"] == 3 and [a["agent_id"] for a in staging["agents"]] == ["old-agent"]
