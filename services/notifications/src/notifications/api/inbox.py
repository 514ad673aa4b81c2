"""The inspector web inbox: server-rendered pages, usable on a phone.

An officer signs in by pasting their token. The server keeps it in a session
(adapters/inbox_sessions.py) and gives the browser only the session's random id, in a Secure,
HttpOnly, SameSite=Strict cookie; the token is verified again on every request, and signing
out deletes the session. Referrals are read from and acted on through the officer's own
agency API with that token; notifications come from this service's delivery log.

Forgery: every form carries a CSRF token — the session's, or before sign-in one bound to a
short-lived cookie (double submit) — and a POST another site sent (an `Origin` not this
site's, or a cross-site or same-site `Sec-Fetch-Site`) is refused with a 403 page before
anything is read or changed. Every response under /inbox carries a strict
Content-Security-Policy and `SECURITY_HEADERS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlmodel import Session, col, select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.auth import InvalidToken, Principal, TokenVerifier
from notifications.adapters.agency_api import AgencyApi, AgencyReply, AgencyUnavailable
from notifications.adapters.inbox_sessions import (
    ActiveSession,
    end_session,
    find_session,
    open_session,
)
from notifications.adapters.tables import Notification, OfficerRow, utc_now
from notifications.api.deps import AgencyApiDep, Context, EngineDep, NotificationsContext
from notifications.api.inbox_text import UI_TEXT
from notifications.domain.recipients import Language
from notifications.messages import format_deadline, label, province_name

PREFIX = "/inbox"
SESSION_COOKIE = "lienganh_inbox_session"
LOGIN_COOKIE = "lienganh_inbox_login"  # the sign-in form's CSRF token (double submit)
LOGIN_FORM_MAX_AGE_S = 15 * 60
# Pages show an officer's referrals (and, opened, a child's details): never cached, framed,
# sniffed or named in another site's Referer.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# Fetch Metadata of a request another site started (a sibling subdomain is same-site).
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})

router = APIRouter(prefix=PREFIX, tags=["web inbox"], include_in_schema=False)


@cache
def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=PackageLoader("notifications", "templates/inbox"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,  # templates ship inside the package: no stat() at every page
    )
    return Jinja2Templates(env=environment)


@cache
def content_security_policy() -> str:
    """Same-origin everything, no script at all, and of inline styles only the pages' one
    stylesheet, by its hash (no 'unsafe-inline'): base.html includes inbox.css verbatim."""
    stylesheet = _templates().env.get_template("inbox.css").render()
    digest = base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()
    return (
        f"default-src 'self'; script-src 'none'; style-src 'sha256-{digest}'; img-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class InboxHeaders:
    """The CSP and `SECURITY_HEADERS` on every response under /inbox: pages, redirects and
    errors alike.

    Pure ASGI (not BaseHTTPMiddleware), like the chassis's request context middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = content_security_policy()
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class FormRefused(Exception):
    """A form the inbox will not act on; `response` says so (a 403 page, or the login page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer_form_refused(request: Request, error: Exception) -> Response:
    """Exception handler for `FormRefused` (installed by the composition root)."""
    assert isinstance(error, FormRefused)
    return error.response


class Visit:
    """The signed-in officer of this request (or nobody), with their language.

    Signed in means: the cookie names a live session, and the token that session holds still
    passes the verifier (an expired token ends the session as surely as signing out)."""

    def __init__(self, request: Request, context: NotificationsContext) -> None:
        self.request = request
        self.context = context
        engine = context.engine
        self.session_id = request.cookies.get(SESSION_COOKIE, "")
        self.session: ActiveSession | None = None
        self.principal: Principal | None = None
        if self.session_id:
            self.session = find_session(engine, self.session_id, now=utc_now())
        if self.session is not None:
            verifier: TokenVerifier = request.app.state.token_verifier
            try:
                self.principal = verifier.verify(self.session.token)
            except InvalidToken:
                end_session(engine, self.session_id)
                self.session = None
        self.language: Language = "vi"
        if self.principal is not None:
            with Session(engine) as session:
                officer = session.get(OfficerRow, self.principal.subject)
            if officer is not None and officer.language == "en":
                self.language = "en"

    @property
    def token(self) -> str:
        """The officer's own token, relayed to their agency API (never sent to the browser)."""
        assert self.session is not None
        return self.session.token

    def page(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        text = UI_TEXT[self.language]
        helpers = {
            "t": text,
            "lang": self.language,
            "officer": self.principal,
            "csrf_token": self.session.csrf_token if self.session else "",
            "case_type": lambda code: label(self.language, "case_type", code),
            "urgency": lambda code: label(self.language, "urgency", code),
            "province": province_name,
            "state": lambda code: text["states"].get(code, code),
            "deadline": lambda value: _deadline(value, self.language),
            "detail_label": lambda key: text["details"].get(key, key),
        }
        return _templates().TemplateResponse(
            self.request, name, {**helpers, **context}, status_code=status_code
        )

    def refusal(self) -> HTMLResponse:
        return self.page("error.html", 403, error=UI_TEXT[self.language]["refused"])


def _visit(request: Request, context: Context) -> Visit:
    return Visit(request, context)


VisitDep = Annotated[Visit, Depends(_visit)]
CsrfField = Annotated[str, Form()]


def _signed_in_form(visit: VisitDep, csrf_token: CsrfField = "") -> Visit:
    """The visit behind a form this site gave a signed-in officer; anything else is refused
    before the form's other fields are even read."""
    if _sent_by_another_site(visit):
        raise FormRefused(visit.refusal())
    if visit.session is None:
        raise FormRefused(_to_login())
    if not _same_secret(csrf_token, visit.session.csrf_token):
        raise FormRefused(visit.refusal())
    return visit


def _sign_in_form(visit: VisitDep, csrf_token: CsrfField = "") -> Visit:
    """The visit behind this site's sign-in form: its token matches the login cookie's."""
    expected = visit.request.cookies.get(LOGIN_COOKIE, "")
    if _sent_by_another_site(visit) or not _same_secret(csrf_token, expected):
        raise FormRefused(visit.refusal())
    return visit


SignedInFormDep = Annotated[Visit, Depends(_signed_in_form)]
SignInFormDep = Annotated[Visit, Depends(_sign_in_form)]


def _sent_by_another_site(visit: Visit) -> bool:
    request = visit.request
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site in _FOREIGN_FETCH_SITES:
        return True
    if origin is None:
        return False  # not a browser (or an old one): the CSRF token alone decides
    if origin == "null" and fetch_site == "same-origin":
        # Our own pages send `Referrer-Policy: no-referrer`, under which browsers post
        # `Origin: null`; Fetch Metadata (which no page can set) still says it is ours.
        return False
    return origin.lower() not in _own_origins(request, visit.context.inbox_url)


def _own_origins(request: Request, inbox_url: str) -> set[str]:
    """The origin the browser addressed (scheme and Host) and the public inbox URL's (which
    differs behind a TLS-terminating proxy)."""
    public = urlsplit(inbox_url)
    return {
        f"{request.url.scheme}://{request.url.netloc}".lower(),
        f"{public.scheme}://{public.netloc}".lower(),
    }


def _same_secret(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    # Always Secure: browsers count http://127.0.0.1 and http://localhost as secure contexts,
    # so local runs and tests keep working without an insecure switch.
    response.set_cookie(
        name, value, max_age=max_age, path=PREFIX, secure=True, httponly=True, samesite="strict"
    )


def _delete_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=PREFIX, secure=True, httponly=True, samesite="strict")


def _deadline(value: str | datetime | None, language: Language) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_deadline(moment, language) or ""


def _to_login() -> RedirectResponse:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    _delete_cookie(response, SESSION_COOKIE)  # it names no live session
    return response


def _login_page(visit: Visit, status_code: int = 200, error: str | None = None) -> Response:
    """The sign-in form, with a fresh CSRF token in its hidden field and in a short-lived
    cookie: the POST must bring both, equal."""
    login_csrf = secrets.token_urlsafe(32)
    response = visit.page("login.html", status_code, login_csrf=login_csrf, error=error)
    _set_cookie(response, LOGIN_COOKIE, login_csrf, LOGIN_FORM_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(visit: VisitDep) -> Response:
    return _login_page(visit)


@router.post("/login", response_class=HTMLResponse)
def login(visit: SignInFormDep, engine: EngineDep, token: Annotated[str, Form()] = "") -> Response:
    verifier: TokenVerifier = visit.request.app.state.token_verifier
    token = token.strip()
    try:
        principal = verifier.verify(token)
    except InvalidToken as error:
        return _login_page(visit, 401, error.message)
    if visit.session_id:
        end_session(engine, visit.session_id)  # a sign-in never carries on an older session
    session = open_session(
        engine,
        token=token,
        subject=principal.subject,
        agency=principal.agency,
        now=utc_now(),
        max_age_s=visit.context.inbox_session_max_s,
    )
    response = RedirectResponse(PREFIX, status_code=303)
    max_age = max(int((session.expires_at - utc_now()).total_seconds()), 0)
    _set_cookie(response, SESSION_COOKIE, session.session_id, max_age)
    _delete_cookie(response, LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(visit: SignedInFormDep, engine: EngineDep) -> Response:
    end_session(engine, visit.session_id)
    return _to_login()


@router.get("", response_class=HTMLResponse)
def inbox(visit: VisitDep, engine: EngineDep, agency_api: AgencyApiDep) -> Response:
    if visit.principal is None:
        return _to_login()
    error, referrals = None, []
    try:
        reply = agency_api.list_referrals(visit.principal.agency, visit.token)
        if reply.status == 200:
            referrals = reply.body
        else:
            error = f"{reply.status}: {reply.message}"
    except AgencyUnavailable as unavailable:
        error = str(unavailable)
    with Session(engine) as session:
        notifications = list(
            session.exec(
                select(Notification)
                .where(Notification.recipient_id == visit.principal.subject)
                .where(Notification.channel == "in_app")
                .order_by(col(Notification.created_at).desc())
                .limit(50)
            )
        )
    return visit.page("inbox.html", referrals=referrals, notifications=notifications, error=error)


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(
    referral_id: str, visit: VisitDep, agency_api: AgencyApiDep, done: str | None = None
) -> Response:
    if visit.principal is None:
        return _to_login()
    return _referral_page(visit, agency_api, referral_id, done=done)


@router.post("/referrals/{referral_id}/{action}", response_class=HTMLResponse)
def act(
    referral_id: str,
    action: str,
    visit: SignedInFormDep,
    agency_api: AgencyApiDep,
    version: Annotated[int, Form()],
    reason: Annotated[str | None, Form()] = None,
) -> Response:
    assert visit.principal is not None  # a signed-in form
    if action not in ("accept", "reject"):
        return visit.page("error.html", 404, error=UI_TEXT[visit.language]["unknown_action"])
    body: dict[str, Any] = {"version": version}
    if action == "reject":
        body["reason"] = (reason or "").strip()
    try:
        reply = agency_api.act(visit.principal.agency, visit.token, referral_id, action, body)
    except AgencyUnavailable as unavailable:
        return visit.page("error.html", 502, error=str(unavailable))
    if reply.status == 200:
        return RedirectResponse(f"{PREFIX}/referrals/{referral_id}?done={action}", status_code=303)
    return _referral_page(visit, agency_api, referral_id, failed=reply)


def _referral_page(
    visit: Visit,
    agency_api: AgencyApi,
    referral_id: str,
    *,
    done: str | None = None,
    failed: AgencyReply | None = None,
) -> Response:
    assert visit.principal is not None
    try:
        reply = agency_api.read_referral(visit.principal.agency, visit.token, referral_id)
    except AgencyUnavailable as unavailable:
        return visit.page("error.html", 502, error=str(unavailable))
    if reply.status != 200:
        return visit.page("error.html", reply.status, error=reply.message)
    status_code = failed.status if failed else 200
    return visit.page(
        "referral.html",
        status_code,
        referral=reply.body,
        done=done if done in ("accept", "reject") else None,
        stale=failed is not None and failed.status == 409,
        failure=failed.message if failed else None,
    )
