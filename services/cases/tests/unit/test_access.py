"""Scoping by agency, role and province."""

from __future__ import annotations

from cases.domain.access import READ_ROLES, Access, case_access, intake_access, sees_identity
from chassis.auth import Principal


def principal(agency: str, roles: set[str], provinces: set[str]) -> Principal:
    return Principal("someone", agency, frozenset(roles), frozenset(provinces))


def read(who: Principal, province: str | None = "01") -> Access:
    return case_access(who, owner_agency="dolisa", province_code=province, roles=READ_ROLES)


def test_the_owning_agency_reads_cases_of_its_provinces_only():
    hanoi = principal("dolisa", {"case_worker"}, {"01"})
    assert read(hanoi) is Access.ALLOWED
    assert read(hanoi, "79") is Access.HIDDEN
    assert read(principal("dolisa", {"coordinator"}, {"*"}), "79") is Access.ALLOWED


def test_other_agencies_and_other_roles_are_forbidden_even_in_their_province():
    assert read(principal("police", {"case_worker", "inspector"}, {"01"})) is Access.FORBIDDEN
    assert read(principal("dolisa", {"intake"}, {"01"})) is Access.FORBIDDEN


def test_a_missing_case_is_hidden():
    assert read(principal("dolisa", {"case_worker"}, {"01"}), None) is Access.HIDDEN


def test_only_the_owners_case_workers_see_identity():
    assert sees_identity(principal("dolisa", {"case_worker"}, {"01"}), "dolisa")
    assert not sees_identity(principal("dolisa", {"coordinator"}, {"01"}), "dolisa")
    assert not sees_identity(principal("police", {"case_worker"}, {"01"}), "dolisa")


def test_intake_needs_an_intake_role_in_the_reported_province():
    assert intake_access(principal("hotline_111", {"intake"}, {"01"}), "01") is Access.ALLOWED
    assert intake_access(principal("hotline_111", {"intake"}, {"01"}), "79") is Access.FORBIDDEN
    assert intake_access(principal("police", {"inspector"}, {"01"}), "01") is Access.FORBIDDEN


def test_lists_refuse_a_named_province_the_caller_does_not_serve():
    from cases.domain.access import list_access

    hanoi = principal("dolisa", {"case_worker"}, {"01"})
    kwargs = {"owner_agency": "dolisa", "roles": READ_ROLES}
    assert list_access(hanoi, province_code=None, **kwargs) is Access.ALLOWED
    assert list_access(hanoi, province_code="79", **kwargs) is Access.FORBIDDEN
    police = principal("police", {"case_worker"}, {"01"})
    assert list_access(police, province_code=None, **kwargs) is Access.FORBIDDEN
