"""The access policy: which roles of which agencies may call which route, and in what scope.

Read from committed data (`policy.v1.yaml`); `chassis.access` enforces it on every route and
the matrix test checks the running services against it. Pure data and rules, no I/O but the
one read of the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.vocabulary import AuditAction

Scope = Literal["national", "provinces", "named_province", "referral", "own_records", "own_agency"]
Auth = Literal["jwt", "none", "session", "signature"]
ANY = "*"
OWNER = "$owner"
SELF = "$self"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

RoleSpec = str | tuple[str, ...]  # "*", "$set", or a list of roles


class RouteRule(BaseModel):
    """One route's rule, as written in the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: Auth = "jwt"
    resource: str = Field(description="What the route reads or changes (audit resource type).")
    action: AuditAction
    allow: dict[str, RoleSpec] = Field(default_factory=dict)
    scope: Scope | None = None
    identity: RoleSpec = ()

    @model_validator(mode="after")
    def _complete(self) -> RouteRule:
        if self.auth == "jwt" and (not self.allow or self.scope is None):
            raise ValueError("a route behind a token needs `allow` and `scope`")
        if self.auth != "jwt" and (self.allow or self.scope):
            raise ValueError(f"a route with auth {self.auth!r} takes no `allow` or `scope`")
        return self


class AccessPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    role_sets: dict[str, tuple[str, ...]]
    roles: dict[str, str]
    services: dict[str, dict[str, RouteRule]]

    @model_validator(mode="after")
    def _known_names(self) -> AccessPolicy:
        for service, rules in self.services.items():
            for route, rule in rules.items():
                method, _, path = route.partition(" ")
                if method not in METHODS or not path.startswith("/"):
                    raise ValueError(f"{service}: {route!r} is not '<METHOD> /path'")
                for spec in (*rule.allow.values(), rule.identity):
                    unknown = set(self.expand(spec)) - set(self.roles) - {ANY}
                    if unknown:
                        raise ValueError(f"{service} {route}: unknown roles {sorted(unknown)}")
        return self

    def expand(self, spec: RoleSpec) -> tuple[str, ...]:
        """A role spec as roles: `$set` → its roles, `*` stays `*`."""
        if isinstance(spec, str):
            if spec.startswith("$"):
                return self.role_sets[spec[1:]]
            return (spec,)
        return tuple(role for item in spec for role in self.expand(item))

    def role_set(self, name: str) -> frozenset[str]:
        return frozenset(self.role_sets[name])

    def for_service(
        self, service: str, *, owner: str | None = None, self_agency: str | None = None
    ) -> ServiceRules:
        """The service's rules (and every process's ops routes), placeholders resolved."""
        resolved: dict[tuple[str, str], Rule] = {}
        for name in ("ops", service):
            for route, rule in self.services.get(name, {}).items():
                method, _, path = route.partition(" ")
                resolved[(method, path)] = self._resolve(method, path, rule, owner, self_agency)
        return ServiceRules(service, resolved)

    def _resolve(
        self, method: str, path: str, rule: RouteRule, owner: str | None, self_agency: str | None
    ) -> Rule:
        places = {OWNER: owner, SELF: self_agency}
        allow: dict[str, frozenset[str]] = {}
        for agency, roles in rule.allow.items():
            code = places.get(agency, agency)
            if code is None:
                raise ValueError(f"{method} {path}: {agency} is not known to this service")
            allow[code] = frozenset(self.expand(roles))
        return Rule(
            method=method,
            path=path,
            auth=rule.auth,
            resource=rule.resource,
            action=rule.action,
            scope=rule.scope,
            allow=allow,
            identity=frozenset(self.expand(rule.identity)),
        )


@dataclass(frozen=True)
class Rule:
    """One route's rule with every placeholder resolved for one deployment."""

    method: str
    path: str
    auth: Auth
    resource: str
    action: AuditAction
    scope: Scope | None
    allow: Mapping[str, frozenset[str]]
    identity: frozenset[str]

    def permits(self, agency: str, roles: Iterable[str]) -> bool:
        """Whether an officer of `agency` with `roles` may call the route at all (scope aside)."""
        held = set(roles)
        for allowed_agency in (agency, ANY):
            allowed = self.allow.get(allowed_agency)
            if allowed is not None and (ANY in allowed or not allowed.isdisjoint(held)):
                return True
        return False

    def shows_identity(self, roles: Iterable[str]) -> bool:
        return not self.identity.isdisjoint(roles)


@dataclass(frozen=True)
class ServiceRules:
    service: str
    rules: Mapping[tuple[str, str], Rule]

    def rule(self, method: str, path: str) -> Rule | None:
        if method == "HEAD":
            method = "GET"
        return self.rules.get((method, path))


@cache
def access_policy() -> AccessPolicy:
    text = files("contracts.access").joinpath("policy.v1.yaml").read_text("utf-8")
    return AccessPolicy.model_validate(yaml.safe_load(text))
