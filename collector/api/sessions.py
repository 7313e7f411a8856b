"""Browser sessions for the HTML report: random ids held in the collector's memory, each naming a token.

A browser cannot send ``Authorization: Bearer``, so ``POST /login`` trades a read
token for a session (``collector.api.login``). The cookie holds only the session
id (32 random bytes); the session remembers the SHA-256 of the token, so the
token's scopes are looked up in the tokens file on every request: a session reads
what its token reads, and a token taken out of the file ends its sessions.
Sessions last ``SESSION_TTL`` and live in this process: a restart, or another
replica, asks to log in again. At most ``MAX_SESSIONS`` are kept; beyond that the
oldest is dropped.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta

COOKIE = "envparity_session"
SESSION_TTL = timedelta(hours=8)
MAX_SESSIONS = 10_000


class Sessions:
    """Session id -> (token digest, expiry), safe to use from the event loop and the thread pool at once."""

    def __init__(
        self, ttl: timedelta = SESSION_TTL, limit: int = MAX_SESSIONS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl.total_seconds()
        self._limit = limit
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}  # in the order opened
        self._lock = threading.Lock()

    def open(self, digest: str) -> str:
        """A new session for the token whose SHA-256 is ``digest``; its id goes in the cookie."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            while len(self._held) >= self._limit:
                del self._held[next(iter(self._held))]
            self._held[session_id] = (digest, self._clock() + self.ttl_s)
        return session_id

    def digest(self, session_id: str | None) -> str | None:
        """The token digest of a live session; None for no id, an unknown id or an expired session."""
        if not session_id:
            return None
        with self._lock:
            held = self._held.get(session_id)
            if held is None or held[1] <= self._clock():
                self._held.pop(session_id, None)
                return None
            return held[0]

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._held.pop(session_id or "", None)

    def _drop_expired(self) -> None:
        now = self._clock()
        for session_id in [s for s, (_, expiry) in self._held.items() if expiry <= now]:
            del self._held[session_id]
