"""Durable on-disk spool: snapshots wait here, in sequence order, until acknowledged.

Layout of a spool directory::

    state.json                agent id, next sequence, last acknowledged fingerprint, losses by
                              reason, and the failed deliveries of each pending snapshot
    pending/<seq>.json.gz     snapshots not yet acknowledged (the exact body that is sent)
    fingerprints/<hash>.json  full fingerprints, to resend when the collector lacks one
    dead/<seq>.json.gz        snapshots the collector refused, beside <seq>.error.txt
    .lock                     held by the one process that owns this spool

Every write goes to a temporary file that is fsynced and renamed, so a crash at
any point leaves either the old or the new file, never a torn one. The spool is
bounded by bytes and by age; when a bound is hit the oldest pending snapshots
are dropped, counted in ``state.json`` and logged. A snapshot being delivered is
never dropped: ``pending()`` holds each entry it hands out as in flight until the
deliverer asks for the next one.

The spool keeps the one count of what was lost (``losses()``, by reason:
``spool_bound``, and the dead-letter reasons ``refused`` and ``server_error``);
the agent's metric and the snapshots' header read it.

Only this module reads and writes these files. A deliverer walks ``pending()``
and answers each ``SpoolEntry`` with ``acknowledge``, ``retry_later`` or
``dead_letter``; ``with_full_fingerprint`` puts a full fingerprint back into a
snapshot that names it by hash alone, for a collector that lacks it.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("envparity.agent.spool")

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_AGE_S = 7 * 24 * 3600


class SpoolLocked(RuntimeError):
    """Another process owns this spool directory."""


@dataclass
class SpoolState:
    agent_id: str
    next_sequence: int = 0
    acked_fingerprint: str | None = None
    lost: dict[str, int] = field(default_factory=dict)  # snapshots lost since the spool began, by reason
    attempts: dict[str, int] = field(default_factory=dict)  # sequence -> deliveries the collector failed on

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpoolState:
        """The state as saved; a first release's ``dropped`` and ``dead_lettered`` counts become losses."""
        old = {"spool_bound": data.pop("dropped", 0), "refused": data.pop("dead_lettered", 0)}
        state = cls(**data)
        for reason, count in old.items():
            if count:
                state.lost[reason] = state.lost.get(reason, 0) + count
        return state


@dataclass(frozen=True)
class SpoolEntry:
    """One pending snapshot: its sequence, its file, the gzip body as sent, and failed deliveries so far."""

    sequence: int
    path: Path
    body: bytes
    attempts: int = 0  # deliveries the collector failed on (a 5xx), counted durably


def _fingerprint_hash(body: bytes) -> str | None:
    """The hash of the fingerprint a snapshot body carries or names."""
    data = json.loads(gzip.decompress(body))
    found = data.get("fingerprint_hash") or (data.get("fingerprint") or {}).get("hash")
    return str(found) if found else None


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def default_agent_id() -> str:
    host = os.environ.get("POD_NAME") or os.uname().nodename or "agent"
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in host)[:100].strip("-._")
    return f"{safe or 'agent'}-{uuid.uuid4().hex[:8]}"


class Spool:
    """A spool directory owned by one agent process at a time."""

    def __init__(
        self,
        root: Path | str,
        agent_id: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ) -> None:
        if max_bytes <= 0 or max_age_s <= 0:
            raise ValueError("spool limits must be positive")
        root = self.root = Path(root)
        self._mutex = threading.RLock()  # the agent's seal and delivery threads share a spool
        self.max_bytes, self.max_age_s = max_bytes, max_age_s
        for sub in ("pending", "fingerprints", "dead"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolLocked(f"spool {root} is in use by another agent process") from None
        for stale in root.rglob(".*.tmp"):  # torn writes of a process that was killed
            stale.unlink(missing_ok=True)
        self.state = self._load_state(agent_id)
        self._in_flight: set[int] = set()  # sequences handed out by pending() and not yet answered

    def release_after_fork(self) -> None:
        """In a forked child: forget the inherited lock, which stays the parent's."""
        self._lock_fd = -1

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _load_state(self, agent_id: str | None) -> SpoolState:
        path = self.root / "state.json"
        if path.exists():
            state = SpoolState.from_json(json.loads(path.read_text()))
            if agent_id and agent_id != state.agent_id:
                log.warning(
                    "spool %s belonged to agent %s; now %s (sequence continues)",
                    self.root,
                    state.agent_id,
                    agent_id,
                )
                state.agent_id = agent_id
        else:
            state = SpoolState(agent_id=agent_id or default_agent_id())
        self._save(state)
        return state

    def _save(self, state: SpoolState | None = None) -> None:
        atomic_write(self.root / "state.json", json.dumps(asdict(state or self.state)).encode())

    def next_sequence(self) -> int:
        """Reserve the next sequence number durably before the snapshot is written."""
        with self._mutex:
            seq = self.state.next_sequence
            self.state.next_sequence = seq + 1
            self._save()
            return seq

    def put_next(self, build: Callable[[int], bytes]) -> int:
        """Spool the snapshot JSON ``build(sequence)`` returns; the sequence is reserved only once it is built.

        A snapshot that cannot be built leaves no gap in the sequence.
        """
        with self._mutex:
            body = build(self.state.next_sequence)
            sequence = self.next_sequence()
            self.put(sequence, body)
            return sequence

    def losses(self) -> dict[str, int]:
        """Snapshots lost since the spool began, by reason."""
        with self._mutex:
            return dict(self.state.lost)

    def _lose(self, reason: str, count: int) -> None:
        self.state.lost[reason] = self.state.lost.get(reason, 0) + count

    def put(self, sequence: int, snapshot_json: bytes) -> Path:
        """Spool one snapshot (its JSON) under its sequence, then apply the bounds."""
        path = self.root / "pending" / f"{sequence:012d}.json.gz"
        atomic_write(path, gzip.compress(snapshot_json, compresslevel=6))
        self.enforce_limits()
        return path

    def _pending_paths(self) -> list[Path]:
        return sorted((self.root / "pending").glob("*.json.gz"))

    def pending(self) -> Iterator[SpoolEntry]:
        """Pending snapshots, oldest sequence first; one acknowledged or dropped meanwhile is skipped.

        The entry handed out is in flight, never dropped by the bounds, until the next is asked for.
        """
        for path in self._pending_paths():
            sequence = int(path.name.split(".", 1)[0])
            with self._mutex:
                try:
                    body = path.read_bytes()
                except FileNotFoundError:
                    continue
                self._in_flight.add(sequence)
                attempts = self.state.attempts.get(str(sequence), 0)
            try:
                yield SpoolEntry(sequence, path, body, attempts)
            finally:
                with self._mutex:
                    self._in_flight.discard(sequence)

    def pending_count(self) -> int:
        return len(self._pending_paths())

    def pending_bytes(self) -> int:
        total = 0
        for p in self._pending_paths():
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def acknowledge(self, entry: SpoolEntry) -> None:
        """The collector stored the snapshot: remove it, and remember its fingerprint as known there."""
        fingerprint_hash = _fingerprint_hash(entry.body)
        with self._mutex:
            if fingerprint_hash:
                self.state.acked_fingerprint = fingerprint_hash
                self._save()
            entry.path.unlink(missing_ok=True)
            if self.state.attempts.pop(str(entry.sequence), None) is not None:
                self._save()

    def retry_later(self, entry: SpoolEntry, *, failed: bool = False) -> int:
        """The snapshot stays pending; returns the deliveries the collector failed on so far.

        ``failed``: the collector answered with an error of its own (a 5xx) on this snapshot;
        counted durably, so that a restarted agent does not retry a poison pill forever.
        """
        with self._mutex:
            key = str(entry.sequence)
            if not failed:
                return self.state.attempts.get(key, 0)
            self.state.attempts[key] = attempts = self.state.attempts.get(key, 0) + 1
            self._save()
            return attempts

    def dead_letter(self, entry: SpoolEntry, message: str, reason: str = "refused") -> bool:
        """Move the snapshot to ``dead/`` beside ``message``, counted under ``reason``; False when no longer spooled.

        ``reason``: ``refused`` (the collector will never take it) or ``server_error`` (it kept failing on it).
        """
        dead = self.root / "dead" / entry.path.name
        with self._mutex:
            try:
                os.replace(entry.path, dead)
            except FileNotFoundError:  # dropped by the bound since it was handed out, and counted there
                return False
            atomic_write(dead.with_suffix("").with_suffix(".error.txt"), message.encode())
            self.state.attempts.pop(str(entry.sequence), None)
            self._lose(reason, 1)
            self._save()
        log.error("collector refused %s (%s); moved to %s: %s", entry.path.name, reason, dead, message)
        return True

    def with_full_fingerprint(self, entry: SpoolEntry) -> SpoolEntry | None:
        """The entry with the full fingerprint it names put back in, rewritten durably; None when not in the spool."""
        data = json.loads(gzip.decompress(entry.body))
        fp_hash = data.get("fingerprint_hash")
        path = self._fingerprint_path(str(fp_hash))
        if not fp_hash or not path.exists():
            return None
        data["fingerprint"] = json.loads(path.read_bytes())
        body = gzip.compress(json.dumps(data).encode(), compresslevel=6)
        atomic_write(entry.path, body)
        return replace(entry, body=body)

    def _fingerprint_path(self, fp_hash: str) -> Path:
        return self.root / "fingerprints" / f"{fp_hash}.json"

    def save_fingerprint(self, fp_hash: str, fingerprint_json: bytes) -> None:
        """Keep a full fingerprint, to put back into snapshots that name it by hash."""
        path = self._fingerprint_path(fp_hash)
        if not path.exists():
            atomic_write(path, fingerprint_json)

    def enforce_limits(self) -> int:
        """Drop the oldest pending snapshots beyond the byte or age bound; returns how many."""
        with self._mutex:
            return self._enforce_limits()

    def _enforce_limits(self) -> int:
        files = []
        for p in self._pending_paths():
            try:
                files.append((p, p.stat()))
            except FileNotFoundError:  # acknowledged meanwhile
                continue
        total = sum(st.st_size for _, st in files)
        now, dropped = time.time(), 0
        for path, st in files[:-1]:  # never drop the newest snapshot
            if total <= self.max_bytes and now - st.st_mtime <= self.max_age_s:
                break
            sequence = int(path.name.split(".", 1)[0])
            if sequence in self._in_flight:  # being delivered: its fate is the collector's answer
                continue
            try:
                path.unlink()
            except FileNotFoundError:  # removed by hand meanwhile
                continue
            self.state.attempts.pop(str(sequence), None)
            total -= st.st_size
            dropped += 1
        if dropped:
            self._lose("spool_bound", dropped)
            self._save()
            log.warning(
                "spool limit reached: dropped %d oldest snapshot(s) (%d lost in total)",
                dropped,
                self.state.lost["spool_bound"],
            )
        return dropped
