"""The access matrix, generated from the declared policy and run against the running system.

Every rule of `contracts/access/policy.v1.yaml` by every role of the policy by every agency
(the four, plus the hotline and an NGO) by a province in and out of scope. What the policy
allows must get through the authorisation layer (any answer but 401/403/404); what it denies
must be refused (403 or 404), and a list must not show another province's records. A rule with
no recipe here fails the suite, so a new route needs a rule (or its service does not start)
and a line in this file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from contracts.access.policy import Rule, access_policy
from contracts.topics import DEFAULT_AGENCIES
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

IN, OUT = "01", "79"
TOKEN_AGENCIES = (*DEFAULT_AGENCIES, "hotline_111", "ngo")
OWNER = "dolisa"
AGENCY_CHANNEL = {
    "police": "police",
    "dolisa": "dolisa",
    "education": "school",
    "labour_inspection": "labour_inspection",
}


@dataclass
class World:
    """Records in province 01 for every route to act on: one referral per agency."""

    system: RunningSystem
    cases: dict[str, str] = field(default_factory=dict)  # role in the matrix → case id
    referrals: dict[str, dict[str, str]] = field(default_factory=dict)  # case → agency → id
    link_id: str = ""

    def referral(self, agency: str) -> tuple[str, str]:
        """(case id, referral id) of a referral held by `agency`."""
        for case_id, held in self.referrals.items():
            if agency in held and case_id != self.cases["cancelled"]:
                return case_id, held[agency]
        raise KeyError(agency)


def _admin(system: RunningSystem) -> dict[str, str]:
    token = system.token("matrix-setup", OWNER, ["case_worker", "coordinator", "admin"], ["*"])
    return {"Authorization": f"Bearer {token}"}


def _report(**overrides: Any) -> dict[str, Any]:
    name = f"Giả Lập Ma Trận {uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {
        "channel": "hotline_111",
        "case_type": "child_trafficking",
        "risk_level": "high",
        "province_code": IN,
        "commune_code": "00070",
        "child": {"full_name": name, "date_of_birth": "2011-03-03", "sex": "female"},
        "circumstances": {"signs_of_forced_labour": True},
        "consent": {"child_consented": True, "guardian_consented": True},
        "summary": "Tình huống giả lập cho kiểm thử phân quyền.",
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def world(system: RunningSystem) -> World:
    world = World(system)
    hotline = system.token("matrix-hotline", "hotline_111", ["intake"], [IN])
    plans = {
        "main": _report(),  # police + dolisa
        "cancelled": _report(),  # its dolisa referral is cancelled by the matrix
        "education": _report(case_type="at_risk", circumstances={"out_of_school": True}),
        "labour": _report(
            channel="labour_inspection",
            case_type="hazardous_child_labour",
            circumstances={"employer_identified": True},
            workplace={"name": "Xưởng giả lập", "industry": "garment"},
        ),
    }
    for role, body in plans.items():
        created = system.post("cases", "/cases", hotline, body)
        assert created.status_code == 201, created.text
        world.cases[role] = created.json()["case_id"]
    for case_id in world.cases.values():
        world.referrals[case_id] = eventually(lambda c=case_id: _referrals_of(system, c))
    # Two reports of one child: a duplicate link for the coordinator routes.
    twin = _report()
    for _ in range(2):
        assert system.post("cases", "/cases", hotline, twin).status_code == 201
    coordinator = system.token("matrix-coordinator", OWNER, ["coordinator"], [IN])
    links = system.get("cases", "/duplicates", coordinator, limit=200).json()
    world.link_id = links[-1]["id"]
    # Every referral known to the cases service (it learns of them from the referrals topic).
    main = world.cases["main"]
    police = system.token("matrix-police", "police", ["inspector"], [IN])
    rid = world.referrals[main]["police"]
    eventually(
        lambda: _ok(system.post("cases", f"/cases/{main}/view-key", police, {"referral_id": rid}))
    )
    return world


def _referrals_of(system: RunningSystem, case_id: str) -> dict[str, str]:
    coordinator = system.token("matrix-coordinator", OWNER, ["coordinator"], [IN])
    history = system.get("referrals", f"/cases/{case_id}/referrals", coordinator)
    assert history.status_code == 200, history.text
    held = {row["agency"]: row["referral_id"] for row in history.json()}
    assert held
    for agency, referral_id in held.items():  # and each in its agency's inbox
        officer = system.token("matrix-inbox", agency, ["inspector"], [IN])
        assert (
            system.get(f"agency-{agency}", f"/referrals/{referral_id}", officer).status_code == 200
        )
    return held


def _ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    marker: str | None = None  # a list must not show it to a caller out of scope


Recipe = Callable[[World, str], Call]  # (world, caller's agency) → the request
OFFICER = "dolisa-matrix-officer"


def _officer_body(officer_id: str = OFFICER) -> dict[str, Any]:
    return {
        "id": officer_id,
        "name": "Cán Bộ Giả Lập",
        "agency": OWNER,
        "role": "case_worker",
        "provinces": [IN],
    }


RECIPES: dict[str, dict[str, Recipe]] = {
    "cases": {
        "POST /cases": lambda w, a: Call("POST", "/cases", _report()),
        "POST /cases:batch": lambda w, a: Call("POST", "/cases:batch", {"reports": [_report()]}),
        "GET /cases": lambda w, a: Call(
            "GET", "/cases", params={"limit": 200}, marker=w.cases["main"]
        ),
        "GET /cases/{case_id}": lambda w, a: Call("GET", f"/cases/{w.cases['main']}"),
        "GET /cases/{case_id}/history": lambda w, a: Call(
            "GET", f"/cases/{w.cases['main']}/history"
        ),
        "POST /cases/{case_id}/view-key": lambda w, a: Call(
            "POST",
            f"/cases/{w.cases['main']}/view-key",
            {
                "referral_id": w.referrals[w.cases["main"]].get(
                    a, w.referrals[w.cases["main"]]["police"]
                )
            },
        ),
        "POST /cases/{case_id}/consent": lambda w, a: Call(
            "POST",
            f"/cases/{w.cases['labour']}/consent",
            {"guardian_consented": True, "child_consented": True},
        ),
        "POST /cases/{case_id}/stage": lambda w, a: Call(
            "POST", f"/cases/{w.cases['education']}/stage", {"to_stage": "assessed", "version": 1}
        ),
        "GET /duplicates": lambda w, a: Call(
            "GET", "/duplicates", params={"limit": 200}, marker=w.link_id
        ),
        "POST /duplicates/{link_id}/reject": lambda w, a: Call(
            "POST", f"/duplicates/{w.link_id}/reject"
        ),
        "POST /duplicates/{link_id}/confirm": lambda w, a: Call(
            "POST", f"/duplicates/{w.link_id}/confirm"
        ),
    },
    "referrals": {
        "GET /referrals": lambda w, a: Call(
            "GET",
            "/referrals",
            params={"limit": 1000},
            marker=w.referrals[w.cases["main"]]["police"],
        ),
        "GET /cases/{case_id}/referrals": lambda w, a: Call(
            "GET", f"/cases/{w.cases['main']}/referrals"
        ),
        "GET /consent-holds": lambda w, a: Call("GET", "/consent-holds"),
        "POST /referrals/{referral_id}/cancel": lambda w, a: Call(
            "POST",
            f"/referrals/{w.referrals[w.cases['cancelled']]['dolisa']}/cancel",
            {"version": 1, "reason": "Kiểm thử phân quyền"},
        ),
    },
    "notifications": {
        "GET /notifications/me": lambda w, a: Call("GET", "/notifications/me"),
        "GET /directory/officers": lambda w, a: Call("GET", "/directory/officers", marker=OFFICER),
        "GET /directory/officers/{officer_id}": lambda w, a: Call(
            "GET", f"/directory/officers/{OFFICER}"
        ),
        "PUT /directory/officers/{officer_id}": lambda w, a: Call(
            "PUT",
            f"/directory/officers/{OFFICER}",
            {k: v for k, v in _officer_body().items() if k != "id"},
        ),
        "POST /directory/officers": lambda w, a: Call(
            "POST", "/directory/officers", _officer_body(f"{OFFICER}-new")
        ),
        "DELETE /directory/officers/{officer_id}": lambda w, a: Call(
            "DELETE", f"/directory/officers/{OFFICER}"
        ),
    },
    "reporting": {
        f"GET {path}": (lambda w, a, p=path: Call("GET", p))
        for path in ("/summary", "/reports/cases", "/reports/referrals", "/reports/indicators")
    },
}


def _agency_recipes(agency: str) -> dict[str, Recipe]:
    def referral(w: World) -> str:
        return w.referral(agency)[1]

    def act(action: str, body: dict[str, Any]) -> Recipe:
        return lambda w, a: Call(
            "POST", f"/referrals/{referral(w)}/{action}", {"version": 1, **body}
        )

    recipes: dict[str, Recipe] = {
        "GET /referrals": lambda w, a: Call(
            "GET", "/referrals", params={"limit": 500}, marker=referral(w)
        ),
        "GET /referrals/{referral_id}": lambda w, a: Call("GET", f"/referrals/{referral(w)}"),
        "POST /cases": lambda w, a: Call(
            "POST",
            "/cases",
            {
                "channel": AGENCY_CHANNEL[agency],
                "case_type": "child_labour",
                "risk_level": "medium",
                "province_code": IN,
                "commune_code": "00070",
                "child": {
                    "full_name": "Trẻ Giả Lập",
                    "sex": "male",
                    "date_of_birth": "2012-01-01",
                    "address": "Thôn giả lập",
                },
                "workplace": {"name": "Xưởng giả lập"},
                "guardian_consented": True,
                "summary": "Kiểm thử phân quyền.",
            },
        ),
    }
    for action, body in (
        ("acknowledge", {}),
        ("accept", {}),
        ("start", {}),
        ("hold", {"reason": "Kiểm thử"}),
        ("resume", {}),
        ("fail", {"reason": "Kiểm thử"}),
        ("complete", {"outcome": {"note": "Kiểm thử"}}),
        ("reject", {"reason": "Kiểm thử"}),
        (
            "transfer",
            {"to_agency": "dolisa" if agency != "dolisa" else "police", "reason": "Kiểm thử"},
        ),
    ):
        recipes[f"POST /referrals/{{referral_id}}/{action}"] = act(action, body)
    return recipes


def expectation(rule: Rule, agency: str, role: str, province: str, world: World) -> str:
    """'allow', 'deny' or 'filtered' (a list that must not show the 01 records)."""
    if not rule.permits(agency, [role]):
        return "deny"
    lists = "{" not in rule.path and rule.method == "GET"
    scope = rule.scope
    if scope in ("national", "own_records"):
        return "allow"
    if scope == "referral":
        holds = agency in world.referrals[world.cases["main"]]
        return "allow" if holds and province == IN else "deny"
    if scope == "own_agency":  # the officer records in play are the owner agency's, in 01
        if agency == OWNER and province == IN:
            return "allow"
        return "filtered" if lists else "deny"
    if province == IN:
        return "allow"
    return "filtered" if lists else "deny"


def run_matrix(
    system: RunningSystem,
    world: World,
    api: str,
    rules: dict[str, Rule],
    recipes: dict[str, Recipe],
) -> list[str]:
    missing = sorted(set(rules) - set(recipes))
    assert not missing, f"{api}: no matrix recipe for {missing}"
    wrong: list[str] = []
    callers = [
        (agency, role, province)
        for agency in TOKEN_AGENCIES
        for role in access_policy().roles
        for province in (IN, OUT)
    ]
    for route in recipes:

        def check(caller: tuple[str, str, str], route: str = route) -> str | None:
            agency, role, province = caller
            if route == "DELETE /directory/officers/{officer_id}":
                _ensure_officer(system)
            call = recipes[route](world, agency)
            token = system.token(f"{agency}-{role}-{province}", agency, [role], [province])
            answer = httpx.request(
                call.method,
                system.url(api, call.path),
                json=call.body,
                params=call.params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            expected = expectation(rules[route], agency, role, province, world)
            got, who = answer.status_code, f"{api} {route} as {agency}/{role}/{province}"
            if expected == "deny" and got not in (403, 404):
                return f"{who}: {got}, expected 403/404"
            if expected != "deny" and got in (401, 403, 404):
                return f"{who}: {got} {answer.text[:80]}"
            if expected == "filtered" and call.marker and call.marker in answer.text:
                return f"{who}: shows {call.marker}"
            return None

        # Callers in parallel; a delete re-creates its record before each call, one at a time.
        with ThreadPoolExecutor(1 if route.startswith("DELETE") else 6) as pool:
            wrong += [problem for problem in pool.map(check, callers) if problem]
    return wrong


def _ensure_officer(system: RunningSystem) -> None:
    answer = httpx.post(
        system.url("notifications", "/directory/officers"),
        json=_officer_body(),
        headers=_admin(system),
        timeout=10,
    )
    assert answer.status_code in (201, 409), answer.text


@pytest.mark.parametrize("service", ["cases", "referrals", "notifications", "reporting"])
def test_each_core_api_answers_as_its_policy_says(
    system: RunningSystem, world: World, service: str
):
    if service == "notifications":
        _ensure_officer(system)
    rules = access_policy().for_service(service, owner=OWNER)
    declared = {f"{m} {p}": r for (m, p), r in rules.rules.items() if r.auth == "jwt"}
    assert run_matrix(system, world, service, declared, RECIPES[service]) == []


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_each_agency_api_answers_as_its_policy_says(
    system: RunningSystem, world: World, agency: str
):
    rules = access_policy().for_service("agencies", self_agency=agency)
    declared = {f"{m} {p}": r for (m, p), r in rules.rules.items() if r.auth == "jwt"}
    wrong = run_matrix(system, world, f"agency-{agency}", declared, _agency_recipes(agency))
    assert wrong == []


def test_routes_without_a_token_are_only_the_declared_public_ones(system: RunningSystem):
    for api in system.ports.api:
        spec = system.get(api, "/openapi.json", None).json()
        for path, operations in spec["paths"].items():
            for method in operations:
                answer = httpx.request(
                    method.upper(),
                    system.url(api, path.replace("{", "x").replace("}", "")),
                    timeout=10,
                )
                assert answer.status_code in (401, 404, 405, 422), (
                    f"{api} {method} {path}: {answer.status_code}"
                )
