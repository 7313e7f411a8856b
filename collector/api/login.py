"""Logging a browser in to the HTML report: ``GET /login`` (the form), ``POST /login``, ``POST /logout``.

``POST /login`` takes a token that may read, and answers with a session cookie
(``collector.api.sessions``: a random id, never the token) that is HttpOnly,
SameSite=Strict, and Secure when the collector serves HTTPS, then redirects (303)
to ``next``: a path on this collector, never another site's URL. An unknown token
is answered 401, a token that may read nothing 403, both without a cookie. A form
posted from a page of another origin (its ``Origin`` header) is refused (403), so
another site can neither log a browser in nor out. Without a tokens file there is
nothing to log in to: the routes send the browser on to ``next``.

``/report`` sends a browser without credentials here (``login_needed``). A link
from another site (a Grafana dashboard) arrives without the SameSite=Strict cookie;
such a request (``Sec-Fetch-Site: cross-site``) gets a page that reloads itself, a
same-site navigation that the browser sends with the cookie.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from envparity.collector.api.body import read_body
from envparity.collector.api.deps import StateDep
from envparity.collector.api.errors import ApiError
from envparity.collector.api.sessions import COOKIE
from envparity.collector.auth import TokenEntry, token_digest

router = APIRouter(include_in_schema=False)
HOME = "/report"
MAX_FORM_BYTES = 4096
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
LOGIN_PAGE = Markup("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envparity: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 26rem; margin: 12vh auto; padding: 0 1rem; color: #222; }}
  input, button {{ font: inherit; padding: 6px 8px; }} input[type=password] {{ width: 100%; box-sizing: border-box; }}
  button {{ margin-top: 12px; }} .error {{ color: #b00020; font-weight: 600; }}
</style></head>
<body><h1>envparity</h1>
<p>Give a token that may read the services you want to see. The browser keeps a session, not the token.</p>
{message}<form id="login" method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form></body></html>
""")
RELOAD_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0">'
    "<title>envparity</title></head><body><p>Opening the report…</p></body></html>"
)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this collector (400 for another site's URL or anything odd)."""
    if not target:
        return HOME
    parts = urlsplit(target)
    odd = any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target)  # browsers read \ as / and drop tabs
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or odd:
        raise ApiError(400, "next must be a path on this collector, such as /report?service=...")
    return target


def login_needed(request: Request) -> Response:
    """The answer to a browser with neither a token nor a session: the login form, which comes back here."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return HTMLResponse(RELOAD_PAGE, headers={"Cache-Control": "no-store"})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': here})}", 303)


def _page_reader(request: Request, state: StateDep) -> TokenEntry | None:
    """Who reads a page: the bearer token when one is sent, else the browser's session; None: neither."""
    authorization = request.headers.get("authorization")
    if authorization or not state.authorizer.enabled:
        return state.authorizer.reader(authorization)
    digest = state.sessions.digest(request.cookies.get(COOKIE))
    entry = state.authorizer.by_digest(digest) if digest else None
    if entry is not None:
        entry.require_some_read()
    return entry


PageReaderDep = Annotated[TokenEntry | None, Depends(_page_reader)]


def _login_page(target: str, message: str = "", status: int = 200) -> HTMLResponse:
    shown = Markup('<p class="error" role="alert">{}</p>\n').format(message) if message else ""
    return HTMLResponse(LOGIN_PAGE.format(message=shown, next=target), status, headers=PAGE_HEADERS)


def _same_origin(request: Request) -> None:
    """Refuse (403) a form posted by a page of another origin; clients that send no Origin are not browsers."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, f"a form from {origin} may not log in or out here")


async def _form(request: Request) -> dict[str, str]:
    """The fields of a small urlencoded form, the first value of each."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise ApiError(415, "post the login form as application/x-www-form-urlencoded")
    body = await read_body(request.stream(), request.headers.get("content-encoding"), MAX_FORM_BYTES)
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    except ValueError as exc:
        raise ApiError(400, f"login form: {exc}") from None
    return {name: values[0] for name, values in fields.items()}


@router.get("/login")
def login_form(state: StateDep, target: Annotated[str | None, Query(alias="next", max_length=4096)] = None) -> Response:
    target = safe_next(target)
    if not state.authorizer.enabled:
        return RedirectResponse(target, 303)
    return _login_page(target)


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    """A session for a token that may read, in a cookie; then on to ``next``."""
    _same_origin(request)
    form = await _form(request)
    target = safe_next(form.get("next"))
    if not state.authorizer.enabled:
        return RedirectResponse(target, 303)
    token = form.get("token", "").strip()
    entry = state.authorizer.by_digest(token_digest(token)) if token else None
    if entry is None:
        return _login_page(target, "Unknown token.", 401)
    if not entry.read:
        return _login_page(target, f"The token {entry.name!r} may not read any service.", 403)
    state.sessions.close(request.cookies.get(COOKIE))  # a new id at every login
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        state.sessions.open(entry.digest),
        max_age=int(state.sessions.ttl_s),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(request: Request, state: StateDep) -> Response:
    _same_origin(request)
    state.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict")
    return response
