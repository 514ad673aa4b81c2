"""Who is told of what: rules are data (`rules.v1.yaml`), this applies them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from notifications.domain.happenings import Happening, Kind
from notifications.domain.recipients import Officer, Role


class Selector(BaseModel):
    """Officers of one agency (the referral's, the case owner's, or any) in these roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: Literal["referral", "owner", "any"]
    roles: tuple[Role, ...] = Field(min_length=1)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: Kind
    notify: tuple[Selector, ...] = Field(min_length=1)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...]


def recipients_for(rules: Rules, officers: list[Officer], happening: Happening) -> list[Officer]:
    """Every officer a rule for this kind selects, serving the province, each once."""
    chosen: dict[str, Officer] = {}
    for rule in rules.rules:
        if rule.when != happening.kind:
            continue
        for selector in rule.notify:
            agency = {"referral": happening.agency, "owner": happening.owner_agency}.get(
                selector.agency
            )
            for officer in officers:
                if (
                    officer.role in selector.roles
                    and (agency is None or officer.agency == agency)
                    and officer.serves(happening.province_code)
                ):
                    chosen.setdefault(officer.id, officer)
    return sorted(chosen.values(), key=lambda officer: officer.id)
