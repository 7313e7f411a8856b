"""The HTML report: served by the collector, written by `check --format html`, rendered by headless Chromium.

The layout is measured by a test-only page that holds the report in a frame of a
given width (1400 px, a phone's 390 px) and measures it with a script of its own,
with every drill-down open: the report itself has no scripts."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from helpers import make_snapshot, post_snapshot, push_environment, run_check

from envparity.collector.parity.record import EvaluationSummary
from envparity.collector.report.charts import distribution_svg, history_svg
from envparity.collector.report.formatting import number

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAIR = {"service": "fraud", "baseline": "staging", "target": "production"}  # a default pair: production the target
ATTENTION_ROW = (  # layer, check, subject
    r'<td class="long" data-label="Layer">%s</td><td class="long" data-label="Check">%s</td>'
    r'<td class="long" data-label="Subject">%s</td>'
)


SECTIONS = ("nav", "summary", "drifted", "causes", "features", "attention", "fingerprint", "checks", "history")
SCREENS = {"desktop": (1400, 900), "phone": (390, 844)}
QUIET = ("--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")
MEASURE = """<!doctype html><html><head><meta charset="utf-8"><style>body { margin: 0 } iframe { border: 0 }</style>
</head><body><iframe id="report" width="%d" height="%d" srcdoc="%s"></iframe><pre id="measured"></pre><script>
addEventListener("load", () => {
  const page = document.getElementById("report").contentDocument;
  page.querySelectorAll("details").forEach((d) => { d.open = true; });
  const width = page.documentElement.clientWidth;
  const off = [...page.body.querySelectorAll("*")].filter((e) => e.getBoundingClientRect().right > width + 0.5);
  document.getElementById("measured").textContent = JSON.stringify({
    width, scrollWidth: page.documentElement.scrollWidth, scripts: page.scripts.length,
    off: off.slice(0, 10).map((e) => e.tagName + (e.id ? "#" + e.id : "")),
    ids: [...page.querySelectorAll("[id]")].map((e) => e.id),
  });
});
</script></body></html>"""


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    assert CHROMIUM, "install the Debian package chromium"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *QUIET,
             f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )  # fmt: skip


def layout(page: str, width: int, height: int, work: Path) -> dict:
    """The report laid out in a frame ``width`` wide with every drill-down open: its widths, element ids, scripts."""
    wrapper = work / f"measure-{width}.html"
    wrapper.write_text(MEASURE % (width, height, html.escape(page, quote=True)))
    dom = chromium("--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom", wrapper.as_uri())
    measured = re.search(r'<pre id="measured">(.+?)</pre>', dom.stdout, re.DOTALL)
    assert measured, dom.stderr[-2000:]
    return json.loads(html.unescape(measured.group(1)))


def screenshots(url: str, work: Path) -> None:
    """The report at a desktop's and a phone's width; kept in tests/.artifacts when that folder exists."""
    keep = Path(__file__).parent / ".artifacts"
    for name, (width, height) in SCREENS.items():
        shot = work / f"report-{name}.png"
        out = chromium(f"--screenshot={shot}", f"--window-size={width},{height}", "--hide-scrollbars", url)
        assert out.returncode == 0 and shot.stat().st_size > 20_000, out.stderr
        if keep.is_dir():  # a developer's copy to look at: mkdir tests/.artifacts
            shutil.copy(shot, keep / shot.name)


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
    assert re.search(ATTENTION_ROW % ("data", "psi", "amount"), attention), "the drifting feature is listed first"
    assert "hour" not in attention, "a feature that did not drift is not among the failures"
    assert '<option selected="">production</option>' in html or "<option selected>production</option>" in html

    # read first: the verdict, how many features drifted and which, what fails per layer
    summary = html[html.index('id="summary"') : html.index("</section>", html.index('id="summary"'))]
    assert re.search(r"<strong>1 of 3 features drifted</strong>:\s*<a href=\"#feature-amount\">amount</a>", summary)
    assert re.search(
        r'<li><a href="#layer-data">data</a> <span class="badge fail">fail</span> score \d+:\s+amount</li>', summary
    )
    # every feature in the table, drawn small, each opening on its distributions, statistics and thresholds
    for feature in ("amount", "hour", "merchant"):
        row = html[
            html.index(f'id="feature-{feature}"') : html.index("</details>", html.index(f'id="feature-{feature}"'))
        ]
        assert (
            f'aria-label="baseline and target of {feature}"' in row and f'aria-label="distribution of {feature}"' in row
        )
        assert re.search(r'data-label="Check">psi</td><td class="num" data-label="Value">[\d.e-]+</td>'
                         r'<td class="num" data-label="Threshold">0\.25</td>', row), feature  # fmt: skip
    # navigation by layer, history with axes and the score bands
    assert all(f'href="#layer-{layer}"' in html for layer in ("data", "prediction", "infrastructure"))
    history = html[html.index('aria-label="score history"') :]
    assert history.count('class="threshold"') == 2 and ">100</text>" in history and "evaluated (UTC)" in history
    assert html.count('<span class="badge') > 5

    for name, (width, height) in SCREENS.items():
        measured = layout(page.text, width, height, tmp_path)
        assert measured["width"] == width and measured["scripts"] == 0, measured
        assert measured["scrollWidth"] <= width and measured["off"] == [], (name, measured)
        assert set(SECTIONS) <= set(measured["ids"]), (name, measured["ids"])
    screenshots(url, tmp_path)


def test_check_format_html_writes_the_same_page(reported, tmp_path: Path) -> None:
    out = run_check(["--collector", reported.url], "staging", "production", "--format", "html")
    assert out.returncode == 1, out.stderr
    report = tmp_path / "report.html"
    report.write_text(out.stdout)
    dom = chromium("--dump-dom", report.as_uri())
    assert re.search(r'id="status"[^>]*>fail<', dom.stdout)
    assert re.search(ATTENTION_ROW % ("data", "psi", "amount"), dom.stdout)
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


def test_history_has_axes_ticks_and_the_score_bands() -> None:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    history = [
        EvaluationSummary(status=s, score=v, layer_scores={}, evaluated_at=start + timedelta(minutes=m))
        for m, s, v in ((30, "ok", 100.0), (20, "warn", 90.0), (10, "fail", 40.0))
    ]  # newest first, as the store lists them
    svg = str(history_svg(history))
    ticks = {int(t): float(y) - 4 for y, t in re.findall(r'y="([\d.]+)" font-size="12" text-anchor="end">(\d+)<', svg)}
    assert list(ticks) == [0, 20, 40, 60, 80, 100]
    assert re.findall(r">(12:\d\d:\d\d)</text>", svg) == ["12:10:00", "12:20:00", "12:30:00"]  # oldest left
    bands = [float(y) for y in re.findall(r'<line class="threshold" x1="[\d.]+" y1="([\d.]+)"', svg)]
    assert bands == pytest.approx([ticks[0] + (ticks[100] - ticks[0]) * score / 100 for score in (95, 80)])
    colours = re.findall(r'<circle [^>]*fill="(#\w+)"', svg)
    assert colours == ["#c0392b", "#d68910", "#1e8449"]  # each evaluation's verdict, oldest first
    assert str(history_svg(history[:1])).count("<circle") == 1 and str(history_svg([])) == ""
