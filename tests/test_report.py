"""The HTML report: served by the collector, written by `check --format html`, rendered by headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from helpers import make_snapshot, post_snapshot, push_environment, run_check

from envparity.collector.report.html import distribution_svg, number

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAIR = {"service": "fraud", "baseline": "staging", "target": "production"}  # a default pair: production the target


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    assert CHROMIUM, "install the Debian package chromium"
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Links(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture
def reported(start_collector, tmp_path: Path):
    collector = start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}", "--evaluate-every", "1")
    push_environment(collector.url, "production", 0.0, 1, "agent-prod")
    push_environment(collector.url, "staging", 0.5, 1, "agent-stage")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        history = httpx.get(f"{collector.url}/v1/parity/history", params=PAIR).json()["evaluations"]
        if len(history) >= 2:
            return collector
        time.sleep(0.5)
    raise AssertionError("no scheduled evaluation stored")


def test_report_page_in_chromium(reported, tmp_path: Path) -> None:
    url = f"{reported.url}/report?service=fraud&baseline=staging&target=production"
    page = httpx.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    links = Links()
    links.feed(page.text)
    assert [u for u in links.urls if re.match(r"(https?:)?//", u)] == [], "the page must work with no internet"

    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert re.search(r'id="status"[^>]*>fail<', html)
    attention = html[html.index('id="attention"') : html.index("</table>", html.index('id="attention"'))]
    assert re.search(r"<td>data</td><td>psi</td><td>amount</td>", attention), "the drifting feature is listed first"
    assert "hour" not in attention, "a feature that did not drift is not among the failures"
    assert 'aria-label="distribution of amount"' in html
    assert 'id="history"' in html and html.count('<span class="badge') > 5
    assert '<option selected="">production</option>' in html or "<option selected>production</option>" in html

    shot = tmp_path / "report.png"
    out = chromium(f"--screenshot={shot}", "--window-size=1366,900", "--hide-scrollbars", url)
    assert out.returncode == 0 and shot.stat().st_size > 20_000, out.stderr
    keep = Path(__file__).parent / ".artifacts"
    if keep.is_dir():  # a developer's copy to look at: mkdir tests/.artifacts
        shutil.copy(shot, keep / "report.png")


def test_check_format_html_writes_the_same_page(reported, tmp_path: Path) -> None:
    out = run_check(["--collector", reported.url], "staging", "production", "--format", "html")
    assert out.returncode == 1, out.stderr
    report = tmp_path / "report.html"
    report.write_text(out.stdout)
    dom = chromium("--dump-dom", report.as_uri())
    assert re.search(r'id="status"[^>]*>fail<', dom.stdout)
    assert "<td>data</td><td>psi</td><td>amount</td>" in dom.stdout
    assert 'aria-label="distribution of amount"' in dom.stdout and 'id="history"' in dom.stdout


def test_report_bad_input(reported) -> None:
    missing = httpx.get(f"{reported.url}/report", params={**PAIR, "target": "qa"})
    assert missing.status_code == 404 and "no data for fraud/qa" in missing.text
    default = httpx.get(f"{reported.url}/report")
    assert default.status_code == 200 and "production" in default.text


def test_report_escapes_what_agents_send(start_collector, tmp_path: Path) -> None:
    collector = start_collector(f"duckdb:///{tmp_path / 's.duckdb'}")
    for env in ("production", "staging"):
        assert post_snapshot(collector.url, make_snapshot(agent_id=f"a-{env}", environment=env)).status_code == 200
    page = httpx.get(f"{collector.url}/report", params={**PAIR, "target": "<script>alert(1)</script>"})
    assert page.status_code == 404 and "<script>" not in page.text


def test_distribution_drawing_is_proportional() -> None:
    svg = str(distribution_svg("x", {"kind": "categorical", "labels": ["a", "b"], "baseline": [0.75, 0.25],
                                    "target": [0.25, 0.75]}))  # fmt: skip
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[0] == pytest.approx(3 * heights[1], abs=0.2) and heights[0] == pytest.approx(heights[3])
    assert number(0.123456) == "0.1235" and number(float("nan")) == "NaN" and number(None) == ""
