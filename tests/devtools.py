"""Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``).

Chromium reads commands on its fd 3 and writes answers and events on its fd 4,
each a JSON message ended by a NUL byte. ``Page`` opens one tab and offers what the
browser tests need: go to a URL, wait until a JavaScript expression holds, evaluate
one, and read the cookies the browser keeps.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevToolsError(RuntimeError):
    """An error answer of the browser, or no answer in time."""


class Page:
    """One tab of a headless Chromium started for the test."""

    def __init__(self, proc: subprocess.Popen[bytes], commands: int, answers: int) -> None:
        self._proc, self._commands, self._answers = proc, commands, answers
        self._buffer = b""
        self._next_id = 0
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def send(self, method: str, session: bool = False, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """The result of one command, to the browser or (``session``) to the tab."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(self._answers, 1 << 16) if ready else b""
            if not chunk:
                raise DevToolsError("Chromium did not answer in time" if not ready else "Chromium closed the pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def go(self, url: str) -> None:
        self.send("Page.navigate", session=True, url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        """Wait until ``expression`` is truthy in a loaded page (it is evaluated again after each navigation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"document.readyState === 'complete' && Boolean({expression})"):
                    return
            except DevToolsError:  # between two documents
                pass
            time.sleep(0.1)
        raise DevToolsError(f"never true: {expression} (at {self.evaluate('location.href')})")

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie the browser keeps, with its flags (httpOnly, secure, sameSite)."""
        cookies: list[dict[str, Any]] = self.send("Storage.getCookies")["cookies"]
        return cookies


@contextmanager
def chromium_page(profile: Path) -> Iterator[Page]:
    """A fresh headless Chromium (its profile in ``profile``) and a tab of it."""
    assert CHROMIUM, "install the Debian package chromium"
    chrome_reads, commands = os.pipe()
    answers, chrome_writes = os.pipe()

    def give_pipes() -> None:  # in the child: Chromium expects its pipe ends as fds 3 and 4, inheritable
        reads, writes = os.dup(chrome_reads), os.dup(chrome_writes)  # either may be 3 or 4 itself
        os.dup2(reads, 3)
        os.dup2(writes, 4)

    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--no-first-run", "--no-proxy-server", "--remote-debugging-pipe",
         f"--user-data-dir={profile}", "about:blank"],
        close_fds=False,  # keeps fds 3 and 4; Python's own descriptors are not inheritable (PEP 446)
        preexec_fn=give_pipes,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(chrome_reads)
    os.close(chrome_writes)
    try:
        yield Page(proc, commands, answers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.close(commands)
        os.close(answers)
