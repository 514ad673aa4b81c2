"""The access policy enforced on every route, by one dependency.

`contracts/access/policy.v1.yaml` says, for each route of each service, which roles of which
agencies may call it and in what scope. Every service app is built with `authorize` as a
dependency of every route: it finds the route's rule, verifies the bearer token (401), checks
agency and roles (403, audited as denied) and hands the route a `Grant`. The route applies
the rule's scope to the objects it touches through the grant (`require_province`,
`visible_provinces`, …), so the scope, too, comes from the policy. A service whose routes and
rules differ — a route without a rule, or a rule without a route — refuses to start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from chassis.audit import record_audit, stage_audit
from chassis.auth import ALL_PROVINCES, Principal, bearer_scheme, verified_principal
from chassis.logs import current_correlation_id
from chassis.unit_of_work import UnitOfWork, event_source, unit_of_work
from contracts.access.policy import Rule, ServiceRules
from contracts.vocabulary import AuditAction, AuditOutcome

__all__ = [
    "Grant",
    "Granted",
    "Refused",
    "RoutesAndRulesDiffer",
    "audit_refusal",
    "authorize",
    "enforce",
]


class RoutesAndRulesDiffer(RuntimeError):
    """The service's routes and the access policy disagree: it must not serve."""


class Refused(HTTPException):
    """A refusal by the access policy. It is audited by `audit_refusal` once the route has
    unwound — so never from inside the route's own transaction, which may hold the lock."""

    def __init__(
        self, grant: Grant, status_code: int, message: str, resource_id: str, why: str
    ) -> None:
        super().__init__(status_code, message)
        self.grant = grant
        self.resource_id = resource_id
        self.why = why


@dataclass(frozen=True)
class Grant:
    """What the policy lets this caller do on this route. `principal` is None only on routes
    that take no token (ops pages, the web inbox, the signed bridge)."""

    rule: Rule
    principal: Principal | None
    service: str = ""  # the service answering, as its audit records name it

    @property
    def officer(self) -> Principal:
        if self.principal is None:
            raise RuntimeError(f"{self.rule.path} takes no token: there is no officer")
        return self.principal

    @property
    def all_provinces(self) -> bool:
        return self.rule.scope == "national" or ALL_PROVINCES in self.officer.provinces

    def serves(self, province: str | None) -> bool:
        return province is not None and (self.all_provinces or province in self.officer.provinces)

    def require_province(
        self, province: str | None, *, resource_id: str = "*", what: str = "resource"
    ) -> None:
        """The scope applied to one object: another province's object is not disclosed
        (404); a province the caller names for a new record is refused (403). Either way
        the refusal is audited."""
        if self.serves(province):
            return
        if self.rule.scope == "named_province" and province is not None:
            message = "province_code: outside the provinces you serve"
            raise self.refuse(status.HTTP_403_FORBIDDEN, message, resource_id=resource_id)
        # Probing for ids of other provinces, or that do not exist, is recorded alike.
        raise Refused(
            self, 404, f"{what} not found", resource_id, "not found in the caller's provinces"
        )

    def visible_provinces(self) -> frozenset[str] | None:
        """For lists: the provinces to filter on, or None for every province."""
        return None if self.all_provinces else self.officer.provinces

    def refuse(
        self, code: int, message: str, *, resource_id: str = "*", why: str | None = None
    ) -> Refused:
        """A refusal by the rule's scope that only the route can see (audited)."""
        return Refused(self, code, message, resource_id, why or message)

    def audit(
        self,
        uow: UnitOfWork,
        resource_id: str,
        *,
        detail: str | None = None,
        action: AuditAction | None = None,
    ) -> None:
        """Record this access — the rule's action (or a narrower one: a read that leaves as
        an export file) on the rule's resource — in the caller's transaction, so the effect
        and its audit record commit together."""
        stage_audit(
            uow,
            self.officer,
            service=self.service,
            action=action or self.rule.action,
            resource_type=self.rule.resource,
            resource_id=resource_id,
            detail=detail,
        )

    def audit_read(
        self,
        engine: Engine,
        resource_id: str,
        *,
        detail: str | None = None,
        action: AuditAction | None = None,
    ) -> None:
        """The same for a read, which has no transaction of its own to join."""
        with unit_of_work(
            engine, source=event_source(self.service), correlation_id=current_correlation_id()
        ) as uow:
            self.audit(uow, resource_id, detail=detail, action=action)

    def shows_identity(self) -> bool:
        """Whether this route shows this caller a child's identity (the rule's `identity`)."""
        return self.principal is not None and self.rule.shows_identity(self.principal.roles)


def _rule_of(request: Request) -> Rule:
    rules: ServiceRules = request.app.state.access_rules
    route = request.scope.get("route")
    rule = rules.rule(request.method, getattr(route, "path", ""))
    if rule is None:  # cannot happen after `enforce`; fail closed if it does
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no access rule for this route")
    return rule


async def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Grant:
    rule = _rule_of(request)
    service: str = request.app.state.service
    if rule.auth != "jwt":
        return Grant(rule, None, service)
    principal = verified_principal(request, credentials)
    grant = Grant(rule, principal, service)
    if not rule.permits(principal.agency, principal.roles):
        resource_id = str(next(iter(request.path_params.values()), "*"))
        what = f"{rule.action.value} this {rule.resource.replace('_', ' ')}"
        raise grant.refuse(
            403,
            f"your agency or role may not {what}",
            resource_id=resource_id,
            why="agency or role not allowed",
        )
    return grant


Granted = Annotated[Grant, Depends(authorize)]


async def audit_refusal(request: Request, error: Exception) -> JSONResponse:
    """Exception handler: record the refusal (a database write, off the event loop), then
    answer it like any HTTP error."""
    assert isinstance(error, Refused)
    await run_in_threadpool(_record_refusal, request, error)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code)


def _record_refusal(request: Request, refusal: Refused) -> None:
    engine = getattr(request.app.state, "engine", None)
    principal = refusal.grant.principal
    if engine is None or principal is None:
        return
    rule = refusal.grant.rule
    record_audit(
        engine,
        principal,
        service=refusal.grant.service,
        action=rule.action,
        resource_type=rule.resource,
        resource_id=refusal.resource_id,
        outcome=AuditOutcome.DENIED,
        detail=f"{request.method} {rule.path}: {refusal.why}",
    )


def enforce(app: FastAPI, rules: ServiceRules) -> None:
    """Check every route has a rule and every rule a route, and declare the refusals each
    route can answer in the app's OpenAPI document."""
    app.state.access_rules = rules
    served: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or context.path is None:
            continue  # the OpenAPI pages themselves
        for method in context.methods or ():
            if method == "HEAD":
                continue
            if rules.rule(method, context.path) is None:
                raise RoutesAndRulesDiffer(
                    f"{rules.service}: {method} {context.path} has no rule in the access policy"
                )
            served.add((method, context.path))
    stale = sorted(f"{m} {p}" for m, p in set(rules.rules) - served)
    if stale:
        raise RoutesAndRulesDiffer(f"{rules.service}: rules without a route: {stale}")
    _document_refusals(app, rules)


_REFUSALS: dict[str, str] = {
    "401": "No valid bearer token.",
    "403": "The caller's agency, role or province may not do this.",
    "404": "Not found, or in a province the caller does not serve.",
}


def _document_refusals(app: FastAPI, rules: ServiceRules) -> None:
    """Every route's OpenAPI operation lists the refusals its rule can answer with."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                rule = rules.rule(method.upper(), path)
                for code in _refusal_codes(rule):
                    operation.setdefault("responses", {}).setdefault(
                        code, {"description": _REFUSALS[code]}
                    )
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _refusal_codes(rule: Rule | None) -> Iterable[str]:
    if rule is None or rule.auth != "jwt":
        return ()
    return ("401", "403") if rule.scope == "national" else ("401", "403", "404")
