"""The inspector web inbox: server-rendered pages, usable on a phone.

An officer signs in by pasting their token; it is kept in an HttpOnly, SameSite=Strict
cookie and checked on every request like a bearer token. Referrals are read from and acted
on through the officer's own agency API with that token; notifications come from this
service's delivery log.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.auth import InvalidToken, Principal, TokenVerifier
from notifications.adapters.agency_api import AgencyApi, AgencyReply, AgencyUnavailable
from notifications.adapters.tables import Notification, OfficerRow
from notifications.api.inbox_text import UI_TEXT
from notifications.domain.recipients import Language
from notifications.messages import format_deadline, label, province_name

COOKIE = "lienganh_inbox_token"
router = APIRouter(prefix="/inbox", tags=["web inbox"], include_in_schema=False)


@cache
def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=PackageLoader("notifications", "templates/inbox"),
        autoescape=select_autoescape(["html"]),
    )
    return Jinja2Templates(env=environment)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _agency_api(request: Request) -> AgencyApi:
    api: AgencyApi = request.app.state.agency_api
    return api


EngineDep = Annotated[Engine, Depends(_engine)]
AgencyApiDep = Annotated[AgencyApi, Depends(_agency_api)]


class Visit:
    """The signed-in officer of this request (or nobody), with their language."""

    def __init__(self, request: Request, engine: Engine) -> None:
        self.request = request
        self.token = request.cookies.get(COOKIE, "")
        self.principal: Principal | None = None
        if self.token:
            verifier: TokenVerifier = request.app.state.token_verifier
            try:
                self.principal = verifier.verify(self.token)
            except InvalidToken:
                self.principal = None
        self.language: Language = "vi"
        if self.principal is not None:
            with Session(engine) as session:
                officer = session.get(OfficerRow, self.principal.subject)
            if officer is not None and officer.language == "en":
                self.language = "en"

    def page(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        text = UI_TEXT[self.language]
        helpers = {
            "t": text,
            "lang": self.language,
            "officer": self.principal,
            "case_type": lambda code: label(self.language, "case_type", code),
            "urgency": lambda code: label(self.language, "urgency", code),
            "province": province_name,
            "state": lambda code: text["states"].get(code, code),
            "deadline": lambda value: _deadline(value, self.language),
            "detail_label": lambda key: text["details"].get(key, key),
        }
        # Pages show an officer's referrals (and, opened, a child's details): never cached.
        return _templates().TemplateResponse(
            self.request,
            name,
            {**helpers, **context},
            status_code=status_code,
            headers={"Cache-Control": "no-store"},
        )


def _visit(request: Request, engine: EngineDep) -> Visit:
    return Visit(request, engine)


VisitDep = Annotated[Visit, Depends(_visit)]


def _deadline(value: str | datetime | None, language: Language) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_deadline(moment, language) or ""


def _to_login() -> RedirectResponse:
    return RedirectResponse("/inbox/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(visit: VisitDep) -> Response:
    return visit.page("login.html")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form()], engine: EngineDep) -> Response:
    verifier: TokenVerifier = request.app.state.token_verifier
    visit = Visit(request, engine)
    try:
        verifier.verify(token.strip())
    except InvalidToken as error:
        return visit.page("login.html", 401, error=error.message)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.app.state.inbox_cookie_secure,
        path="/inbox",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = _to_login()
    response.delete_cookie(COOKIE, path="/inbox")
    return response


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
    visit: VisitDep,
    agency_api: AgencyApiDep,
    version: Annotated[int, Form()],
    reason: Annotated[str | None, Form()] = None,
) -> Response:
    if visit.principal is None:
        return _to_login()
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
        return RedirectResponse(f"/inbox/referrals/{referral_id}?done={action}", status_code=303)
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
