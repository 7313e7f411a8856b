"""Follow a JSON lines prediction log and record each line, surviving rotation, truncation and restarts.

Fields are mapped by a small config (top-level keys, or dotted paths such as
``output.score``). Only complete lines are read. A rotated log (the path now
names another file) is drained to its end before the new file is opened; a
truncated one is read again from its start. The position (device, inode, offset)
is saved in a state directory (the agent's spool) each time a window is sealed,
inside the sink's seal lock, and lines are recorded under the same lock: every line is
either in a spooled window and behind the saved position, or ahead of it and
not yet sealed, so a restart reads each line into exactly one window. After a
restart a log rotated meanwhile is found again by its inode among the path's
siblings (``app.log.1``, ...) and drained first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from envparity.agent.sink import WindowedSink

log = logging.getLogger("envparity.agent.logtail")


@dataclass(frozen=True)
class LogFields:
    """Where each field sits in a log line; ``None`` leaves it out."""

    timestamp: str | None = "ts"
    request_id: str | None = "request_id"
    features: str | None = "features"
    prediction: str | None = "prediction"
    confidence: str | None = "confidence"
    latency_s: str | None = "latency_s"
    latency_ms: str | None = "latency_ms"
    model_version: str | None = "model_version"
    error: str | None = "error"

    @classmethod
    def load(cls, path: Path | None) -> LogFields:
        if path is None:
            return cls()
        data = yaml.safe_load(path.read_text()) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown log fields {sorted(unknown)}")
        return cls(**data)


def _get(line: dict[str, Any], path: str | None) -> Any:
    if path is None:
        return None
    value: Any = line
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _timestamp(value: Any) -> float | None:
    """Unix seconds from an ISO 8601 text (naive means UTC) or a number of seconds; None when neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


class LogTail:
    """Reads ``path`` into ``sink`` every ``poll_s`` seconds until stopped; keeps its position in ``state_dir``."""

    def __init__(
        self,
        path: Path,
        sink: WindowedSink,
        state_dir: Path,
        fields: LogFields | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.path, self.sink, self.fields, self.poll_s = Path(path), sink, fields or LogFields(), poll_s
        key = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]
        self.state_path = Path(state_dir) / f"logtail-{key}.json"
        self._file: IO[bytes] | None = None
        self._ident: tuple[int, int] | None = None
        self.offset = 0
        self.lines = self.bad_lines = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        sink.on_sealed(self.save_state)
        self._resume()

    # --- position -------------------------------------------------------------------

    def _resume(self) -> None:
        try:
            saved = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        ident = (saved["dev"], saved["ino"])
        for candidate in [self.path, *sorted(self.path.parent.glob(self.path.name + "*"))]:
            try:
                st = candidate.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == ident:
                self._open(candidate, saved["offset"])
                return
        log.warning("log %s: the file read before the restart is gone; starting at the current file", self.path)

    def save_state(self) -> None:
        """Called under the sink's seal lock once a window is stored."""
        if self._ident is None:
            return
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"dev": self._ident[0], "ino": self._ident[1], "offset": self.offset}))
        os.replace(tmp, self.state_path)

    def _open(self, path: Path, offset: int = 0) -> None:
        if self._file is not None:
            self._file.close()
        self._file = path.open("rb")
        st = os.fstat(self._file.fileno())
        self._ident, self.offset = (st.st_dev, st.st_ino), min(offset, st.st_size)
        self._file.seek(self.offset)

    # --- reading ----------------------------------------------------------------------

    def poll(self) -> int:
        """Read every complete new line; returns how many were recorded."""
        recorded = 0
        if self._file is None:
            if not self.path.exists():
                return 0
            self._open(self.path)
        recorded += self._drain()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return recorded  # rotated away, the new file not there yet
        if (st.st_dev, st.st_ino) != self._ident:
            self._open(self.path)  # rotation: the old file was drained above
            recorded += self._drain()
        elif st.st_size < self.offset:
            log.info("log %s was truncated; reading it from the start", self.path)
            self._open(self.path)
            recorded += self._drain()
        return recorded

    def _drain(self) -> int:
        assert self._file is not None
        recorded = 0
        while True:
            line = self._file.readline()
            if not line.endswith(b"\n"):
                self._file.seek(self.offset)  # a partial line: read it again when complete
                return recorded
            with self.sink.seal_lock:
                self._record(line)
                self.offset += len(line)
            recorded += 1

    def _record(self, raw: bytes) -> None:
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("not an object")
        except ValueError:
            self.bad_lines += 1
            return
        f = self.fields
        latency = _number(_get(line, f.latency_s))
        if latency is None and (ms := _number(_get(line, f.latency_ms))) is not None:
            latency = ms / 1000
        features = _get(line, f.features)
        error = _get(line, f.error)
        self.sink.record(
            request_id=_get(line, f.request_id),
            features=features if isinstance(features, dict) else None,
            prediction=_get(line, f.prediction),
            confidence=_number(_get(line, f.confidence)),
            latency_s=latency,
            model_version=_get(line, f.model_version),
            error=None if error in (None, "", False) else str(error),
            ts=_timestamp(_get(line, f.timestamp)),
        )
        self.lines += 1

    # --- thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="envparity-logtail", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except OSError as exc:
                log.warning("log %s: %s", self.path, exc)
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        """Stop following and read what is complete, before the sink seals its last window."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        if self._file is not None:
            self._file.close()
