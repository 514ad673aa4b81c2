"""What a directory admin may do to the officers directory. No I/O.

An admin manages the officers of their own agency in their own provinces; a webhook may only
point at an allow-listed HTTPS host; and no change may leave a notification rule without
anyone to tell, in a province where it had someone — that would silently stop the
notifications the rule exists for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifications.domain.recipients import Officer
from notifications.domain.rules import Rules

NATIONAL = "*"


@dataclass(frozen=True)
class Admin:
    agency: str
    provinces: frozenset[str]

    @property
    def national(self) -> bool:
        return NATIONAL in self.provinces


def manages(admin: Admin, officer: Officer) -> bool:
    """The officer is of the admin's agency and serves only provinces the admin serves."""
    if officer.agency != admin.agency:
        return False
    return admin.national or (
        NATIONAL not in officer.provinces and set(officer.provinces) <= admin.provinces
    )


def webhook_problems(officer: Officer, allowed_hosts: Iterable[str]) -> list[str]:
    """Why the officer's webhook may not be used (empty when it may)."""
    allowed = {host.lower() for host in allowed_hosts}
    problems = []
    for channel in officer.channels:
        if channel.kind != "webhook" or channel.address is None:
            continue
        url = urlsplit(channel.address)
        if url.scheme != "https":
            problems.append("a webhook must use https")
        if (url.hostname or "").lower() not in allowed:
            problems.append(f"webhook host {url.hostname!r} is not on the allow-list")
    return problems


@dataclass(frozen=True, order=True)
class Coverage:
    """Somebody hears of `kind` for `agency` (None: any agency) in `province` (or `*`)."""

    kind: str
    agency: str | None
    province: str


def lost_coverage(
    rules: Rules, before: Sequence[Officer], after: Sequence[Officer]
) -> list[Coverage]:
    """What had a recipient before the change and has none after it (a national officer
    covers every province)."""
    kept = _covered(rules, after)
    return sorted(
        c
        for c in _covered(rules, before) - kept
        if Coverage(c.kind, c.agency, NATIONAL) not in kept
    )


def _covered(rules: Rules, officers: Sequence[Officer]) -> set[Coverage]:
    covered: set[Coverage] = set()
    for rule in rules.rules:
        for selector in rule.notify:
            for officer in officers:
                if officer.role not in selector.roles:
                    continue
                agency = None if selector.agency == "any" else officer.agency
                covered.update(
                    Coverage(rule.when, agency, province) for province in officer.provinces
                )
    return covered
