"""Access rules for the chassis tests' own little apps, built like the real policy's."""

from __future__ import annotations

from typing import Any

from contracts.access.policy import AccessPolicy, ServiceRules, access_policy

OPEN = {"resource": "thing", "action": "read", "allow": {"*": "*"}, "scope": "national"}


def rules_for(routes: dict[str, dict[str, Any]], service: str = "test") -> ServiceRules:
    """The real ops rules plus `routes` ("GET /x": rule), checked by the policy model."""
    real = access_policy()
    policy = AccessPolicy.model_validate(
        {
            "version": 1,
            "role_sets": dict(real.role_sets),
            "roles": dict(real.roles),
            "services": {"ops": real.services["ops"], service: routes},
        }
    )
    return policy.for_service(service)
