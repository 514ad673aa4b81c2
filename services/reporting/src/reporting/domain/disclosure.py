"""Who sees exact counts: the one rule every output of the reporting service follows.

Exact small counts go only to national programme statisticians (role `statistician`),
through the authenticated report API and its audited exports. Every other role, case
workers and coordinators of any agency included, gets counts from 1 to threshold-1 hidden
with secondary suppression; so does the Prometheus scrape, which has no caller at all.
"""

from __future__ import annotations

from collections.abc import Collection

STATISTICIAN = "statistician"
EXACT_COUNT_ROLES: frozenset[str] = frozenset({STATISTICIAN})


def sees_exact_counts(roles: Collection[str]) -> bool:
    """True when a caller holding `roles` may see counts without small-cell suppression."""
    return not EXACT_COUNT_ROLES.isdisjoint(roles)
