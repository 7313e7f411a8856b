"""The HTML report in a browser with tokens on: a login form that trades a read token for a session cookie.

A real collector with a tokens file; a real headless Chromium (driven through the
DevTools protocol, tests/devtools.py) follows /report -> /login, posts the form and
lands on the report; httpx checks the answers one by one: the cookie's flags, a
wrong token, another site's form, a ``next`` that leaves the collector.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from certificates import https_collector, make_certificates, tls_options
from devtools import chromium_page
from helpers import make_snapshot, post_snapshot

from envparity.collector.api.sessions import COOKIE, Sessions

TOKENS = """
tokens:
  - {name: agents, token: agent-token, write: ["*"]}
  - {name: fraud-team, token: fraud-reader, read: ["fraud"]}
  - {name: payments-team, token: payments-reader, read: ["payments"]}
"""
PAIRS = [("fraud", "production"), ("fraud", "staging"), ("payments", "production"), ("payments", "staging")]
REPORT = "/report?service=fraud&baseline=staging&target=production"


def store_pairs(url: str) -> None:
    for service, environment in PAIRS:
        snap = make_snapshot(agent_id=f"{service}-{environment}", service=service, environment=environment)
        response = post_snapshot(url, snap, headers={"Authorization": "Bearer agent-token"})
        assert response.status_code == 200, response.text


@pytest.fixture
def guarded(start_collector, tmp_path: Path):
    (tmp_path / "tokens.yaml").write_text(TOKENS)
    store = f"duckdb:///{tmp_path / 'store.duckdb'}"
    collector = start_collector(store, "--tokens-file", str(tmp_path / "tokens.yaml"), "--evaluate-every", "0")
    store_pairs(collector.url)
    return collector


def log_in(url: str, token: str, target: str = REPORT, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/login", data={"token": token, "next": target}, headers=headers)


def test_a_browser_without_credentials_is_sent_to_the_login_form(guarded) -> None:
    sent = httpx.get(guarded.url + REPORT)
    assert sent.status_code == 303 and sent.headers["location"] == f"/login?next={quote(REPORT, safe='')}"
    form = httpx.get(guarded.url + sent.headers["location"])
    assert form.status_code == 200 and '<form id="login" method="post" action="/login">' in form.text
    assert f'name="next" value="{REPORT.replace("&", "&amp;")}"' in form.text
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    assert form.headers["cache-control"] == "no-store"
    # scripts keep using the header
    assert httpx.get(guarded.url + REPORT, headers={"Authorization": "Bearer fraud-reader"}).status_code == 200
    assert httpx.get(guarded.url + REPORT, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_logging_in_sets_a_strict_http_only_session_cookie_holding_no_token(guarded) -> None:
    answer = log_in(guarded.url, "fraud-reader", Origin=guarded.url)
    assert answer.status_code == 303 and answer.headers["location"] == REPORT
    (set_cookie,) = answer.headers.get_list("set-cookie")
    flags = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags and "secure" not in flags  # plain HTTP here
    assert "samesite=strict" in set_cookie.lower() and "path=/" in set_cookie.lower()
    session = answer.cookies[COOKIE]
    assert "fraud-reader" not in session and hashlib.sha256(b"fraud-reader").hexdigest() not in session

    with httpx.Client(base_url=guarded.url, cookies={COOKIE: session}) as browser:
        page = browser.get(REPORT)
        assert page.status_code == 200 and 'id="status"' in page.text
        assert browser.get("/report?service=payments").status_code == 403  # the session reads what its token reads
        assert browser.get("/v1/environments").status_code == 401  # the cookie opens the report only

        out = browser.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert f'{COOKIE}=""' in out.headers["set-cookie"] and "max-age=0" in out.headers["set-cookie"].lower()
    assert httpx.get(guarded.url + REPORT, cookies={COOKIE: session}).status_code == 303  # ended on the server too


@pytest.mark.parametrize(
    ("token", "status", "said"),
    [("wrong", 401, "Unknown token."), ("", 401, "Unknown token."), ("agent-token", 403, "may not read")],
)
def test_a_token_that_cannot_read_gets_the_form_again_and_no_cookie(guarded, token, status, said) -> None:
    answer = log_in(guarded.url, token)
    assert answer.status_code == status and said in answer.text and 'id="login"' in answer.text
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)", "x"],
)
def test_next_must_be_a_path_on_the_collector(guarded, target) -> None:
    assert httpx.get(f"{guarded.url}/login", params={"next": target}).status_code == 400
    answer = log_in(guarded.url, "fraud-reader", target)
    assert answer.status_code == 400 and "location" not in answer.headers and "set-cookie" not in answer.headers


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_form_posted_from_another_origin_is_refused(guarded, origin) -> None:
    answer = log_in(guarded.url, "fraud-reader", Origin=origin)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    assert log_in(guarded.url, "fraud-reader", Origin=guarded.url).status_code == 303  # this page's own origin
    assert httpx.post(f"{guarded.url}/logout", headers={"Origin": origin}).status_code == 403


def test_a_link_from_another_site_reloads_to_send_the_strict_cookie(guarded) -> None:
    arrival = httpx.get(guarded.url + REPORT, headers={"Sec-Fetch-Site": "cross-site"})
    assert arrival.status_code == 200 and '<meta http-equiv="refresh" content="0">' in arrival.text
    assert 'id="status"' not in arrival.text  # nothing of the report without credentials


def test_a_token_taken_out_of_the_tokens_file_ends_its_sessions(guarded, tmp_path) -> None:
    session = log_in(guarded.url, "fraud-reader").cookies[COOKIE]
    assert httpx.get(guarded.url + REPORT, cookies={COOKIE: session}).status_code == 200
    (tmp_path / "tokens.yaml").write_text(TOKENS.replace("fraud-reader", "rotated-reader"))
    deadline = time.monotonic() + 10
    while httpx.get(guarded.url + REPORT, cookies={COOKIE: session}).status_code != 303:
        assert time.monotonic() < deadline, "the session outlived its token"
        time.sleep(0.2)


def test_the_cookie_is_secure_over_tls(tmp_path) -> None:
    (tmp_path / "tls").mkdir()
    certificates = make_certificates(tmp_path / "tls")
    with https_collector(tmp_path, certificates, TOKENS, *tls_options(certificates)) as served:
        answer = httpx.post(f"{served.url}/login", data={"token": "fraud-reader"}, verify=served.ca)
    assert answer.status_code == 303 and answer.headers["location"] == "/report"
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_logging_in_with_chromium(guarded, tmp_path) -> None:
    site = f"http://localhost:{guarded.port}"  # another site than 127.0.0.1, the same collector
    with chromium_page(tmp_path / "profile") as page:
        # another site's form cannot log the browser in: Chromium sends its Origin
        page.go(f"{site}/health")
        page.wait_for("document.body")
        page.evaluate(
            "const f = document.createElement('form'); f.method = 'post';"
            f"f.action = '{guarded.url}/login'; f.innerHTML = '<input name=token value=fraud-reader>';"
            "document.body.append(f); f.submit(); true"
        )
        page.wait_for("document.body.innerText.includes('may not log in')")
        assert page.cookies() == []

        page.go(guarded.url + REPORT)
        page.wait_for("location.pathname === '/login' && document.getElementById('login')")
        page.evaluate("document.getElementById('token').value = 'wrong'; document.querySelector('button').click()")
        page.wait_for("document.body.innerText.includes('Unknown token.')")
        assert page.cookies() == []
        page.evaluate(
            "document.getElementById('token').value = 'fraud-reader'; document.querySelector('button').click()"
        )
        page.wait_for("location.pathname === '/report' && document.getElementById('status')")
        assert page.evaluate("location.search") == REPORT.removeprefix("/report")
        assert "fraud" in page.evaluate("document.body.innerText")
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the session
        (cookie,) = page.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
            COOKIE, True, "Strict", False,
        )  # fmt: skip

        # a link from another site arrives without the Strict cookie, reloads, and shows the report
        page.go(f"{site}/health")
        page.wait_for("location.host.startsWith('localhost')")
        page.evaluate(f"location.href = '{guarded.url}{REPORT}'; true")
        page.wait_for("location.pathname === '/report' && document.getElementById('status')")

        page.evaluate(
            "const out = document.createElement('form'); out.method = 'post'; out.action = '/logout';"
            "document.body.append(out); out.submit(); true"
        )
        page.wait_for("location.pathname === '/login' && document.getElementById('login')")
        assert page.cookies() == []
        page.go(guarded.url + REPORT)
        page.wait_for("location.pathname === '/login' && document.getElementById('login')")


def test_sessions_expire_and_are_bounded() -> None:
    now = [0.0]
    sessions = Sessions(ttl=timedelta(hours=8), limit=2, clock=lambda: now[0])
    first, second = sessions.open("a" * 64), sessions.open("b" * 64)
    assert sessions.digest(first) == "a" * 64 and sessions.digest("forged") is None and sessions.digest(None) is None
    third = sessions.open("c" * 64)  # over the limit: the oldest is dropped
    assert sessions.digest(first) is None and sessions.digest(second) == "b" * 64
    now[0] = 8 * 3600.0
    assert sessions.digest(second) is None and sessions.digest(third) is None
