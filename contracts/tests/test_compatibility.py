"""The compatibility check: the real contracts pass against the released snapshots, and
each kind of change is classified as the policy (docs/contracts.md) says."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, create_model

from contracts import compatibility
from contracts.compatibility import (
    Change,
    Release,
    Snapshots,
    TypeReport,
    check,
    compare,
    current_schemas,
    load_snapshots,
    modes,
)
from contracts.referrals.v1 import ReferralRequested
from contracts.registry import EVENT_MODELS
from contracts.topics import Compatibility, declared_topics

REQUESTED = ReferralRequested.ce_type
AUDIT = "vn.lienganh.audit.recorded.v1"
FULL = Compatibility.FULL_TRANSITIVE


def _current(ce_type: str = REQUESTED) -> dict[str, Any]:
    schema: dict[str, Any] = copy.deepcopy(current_schemas()[ce_type])
    return schema


def _report(old: dict[str, Any], new: dict[str, Any], ce_type: str = REQUESTED) -> TypeReport:
    snapshots = Snapshots((Release("0.1.0", {ce_type: old}),))
    [report] = check({ce_type: new}, snapshots, {ce_type: modes()[ce_type]})
    return report


def _kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(change.path, change.kind) for change in changes]


# --- the real files ------------------------------------------------------------------------


def test_the_contracts_pass_against_every_released_snapshot() -> None:
    snapshots = load_snapshots()
    assert snapshots.releases, "contracts/released/ holds no release"
    reports = check(current_schemas(), snapshots)
    breaking = [line for report in reports for line in report.problems]
    assert not breaking, (
        "breaking change to a released event type: add a vN+1 type on a new topic instead "
        "(docs/contracts.md)\n" + "\n".join(breaking)
    )


def test_the_committed_schema_files_pass_too() -> None:
    committed = current_schemas(compatibility.CONTRACTS_DIR / "schemas")
    assert set(committed) == set(EVENT_MODELS)
    assert not [r.ce_type for r in check(committed, load_snapshots()) if r.breaking]


def test_the_first_release_holds_every_v1_type() -> None:
    first = load_snapshots().releases[0]
    assert first.version == "0.1.0"
    assert set(first.schemas) == {t for t in EVENT_MODELS if t.endswith(".v1")}


def test_every_type_gets_the_strictest_mode_of_its_topics() -> None:
    found = modes()
    assert set(found) == set(EVENT_MODELS)
    assert found[REQUESTED] is FULL
    # The audit topic is read by no service; its readers upgrade first.
    assert found[AUDIT] is Compatibility.BACKWARD_TRANSITIVE
    for topic in declared_topics():
        unchecked = topic.compatibility is Compatibility.NONE
        assert unchecked == topic.name.endswith(".dlq"), topic.name


# --- the issue's mutations -----------------------------------------------------------------


def test_removing_age_band_is_breaking() -> None:
    old, new = _current(), _current()
    del new["properties"]["age_band"]
    new["required"].remove("age_band")
    report = _report(old, new)
    assert report.breaking
    assert _kinds(report.changes["0.1.0"]) == [("age_band", "field_removed")]


def test_adding_a_required_priority_is_breaking() -> None:
    old, new = _current(), _current()
    new["properties"]["priority"] = {"type": "integer", "minimum": 1}
    new["required"].append("priority")
    report = _report(old, new)
    assert report.breaking
    [change] = report.changes["0.1.0"]
    assert (change.path, change.kind, change.detail) == ("priority", "field_added", "required")
    assert not change.backward and change.forward


def test_changing_a_type_is_breaking() -> None:
    old, new = _current(), _current()
    new["properties"]["version"] = {"type": "string"}
    report = _report(old, new)
    assert report.breaking
    assert ("version", "type_changed") in _kinds(report.changes["0.1.0"])


def test_adding_an_optional_field_is_compatible() -> None:
    # A model one field richer (outside the contracts package, which registers every model).
    with_note = create_model(
        "ReferralRequested",
        __base__=ReferralRequested,
        __module__="compatibility_test",
        note=(str | None, Field(default=None, description="A free-text note.")),
    )
    report = _report(_current(), with_note.model_json_schema())
    assert not report.breaking, report.problems
    assert _kinds(report.changes["0.1.0"]) == [("note", "field_added")]


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda s: s["required"].remove("reason"), "made_optional"),
        (lambda s: s["$defs"]["CaseType"]["enum"].append("organ_trafficking"), "enum_widened"),
        (lambda s: s["$defs"]["CaseType"]["enum"].remove("at_risk"), "enum_narrowed"),
        (lambda s: s["properties"]["reason"].update(maxLength=100), "narrowed"),
        (lambda s: s["properties"]["province_code"].pop("pattern"), "widened"),
        (lambda s: s["properties"]["lead"].update(type="string"), "type_changed"),
        (lambda s: s["properties"]["commune_code"].update(pattern=r"^\d{6}$"), "pattern_changed"),
    ],
)
def test_narrowing_widening_and_retyping_break_a_full_mode_topic(mutate: Any, kind: str) -> None:
    old, new = _current(), _current()
    mutate(new)
    report = _report(old, new)
    assert report.breaking
    assert kind in {change.kind for change in report.changes["0.1.0"]}


def test_renaming_is_a_removal_plus_an_addition() -> None:
    old, new = _current(), _current()
    new["properties"]["urgency"] = new["properties"].pop("risk_level")
    new["required"] = [name if name != "risk_level" else "urgency" for name in new["required"]]
    changes = compare(old, new)
    assert _kinds(changes) == [("risk_level", "field_removed"), ("urgency", "field_added")]


def test_only_annotations_changed_is_no_change() -> None:
    old, new = _current(), _current()
    new["properties"]["reason"]["description"] = "Reworded."
    new["title"] = "Renamed"
    assert compare(old, new) == []


def test_a_new_enum_value_is_allowed_where_readers_upgrade_first() -> None:
    old, new = _current(AUDIT), _current(AUDIT)
    new["$defs"]["AuditAction"]["enum"].append("print")
    report = _report(old, new, AUDIT)
    assert not report.breaking
    assert [c.kind for c in report.changes["0.1.0"]] == ["enum_widened"]
    old, new = _current(AUDIT), _current(AUDIT)
    new["$defs"]["AuditAction"]["enum"].remove("read")
    assert _report(old, new, AUDIT).breaking, "old audit data must stay readable"


def test_a_field_policy_change_is_compatible() -> None:
    old, new = _current(), _current()
    new["properties"]["details"]["propertyNames"]["enum"].append("school_name")
    new["allOf"].pop(0)
    report = _report(old, new)
    assert not report.breaking, report.problems
    assert {c.kind for c in report.changes["0.1.0"]} == {
        "key_names_changed",
        "field_policy_changed",
    }


def test_transitive_modes_check_every_release_not_only_the_last() -> None:
    first, second, now = _current(), _current(), _current()
    second["properties"]["reason"]["maxLength"] = 100  # narrowed since 0.1.0
    now["properties"]["reason"]["maxLength"] = 100
    snapshots = Snapshots(
        (Release("0.1.0", {REQUESTED: first}), Release("0.2.0", {REQUESTED: second}))
    )
    [transitive] = check({REQUESTED: now}, snapshots, {REQUESTED: FULL})
    assert transitive.breaking and "0.1.0" in transitive.problems[0]
    [latest_only] = check({REQUESTED: now}, snapshots, {REQUESTED: Compatibility.FULL})
    assert not latest_only.breaking
    assert list(latest_only.changes) == ["0.2.0"]


def test_a_removed_type_breaks_unless_retired() -> None:
    released = Snapshots((Release("0.1.0", {REQUESTED: _current()}),))
    [report] = check({}, released, {REQUESTED: FULL})
    assert report.breaking and "type removed" in report.problems[0]
    retired = Snapshots(released.releases, frozenset({REQUESTED}))
    assert not check({}, retired, {REQUESTED: FULL})[0].breaking


def test_a_new_type_needs_no_release_yet() -> None:
    [report] = check({REQUESTED: _current()}, Snapshots(()), {REQUESTED: FULL})
    assert not report.breaking and report.changes == {}


# --- the command ---------------------------------------------------------------------------


def _mutated_schemas(folder: Path) -> Path:
    """A copy of contracts/schemas with the issue's change: age_band out, priority required."""
    shutil.copytree(compatibility.CONTRACTS_DIR / "schemas", folder)
    path = folder / f"{REQUESTED}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    del schema["properties"]["age_band"]
    schema["required"].remove("age_band")
    schema["properties"]["priority"] = {"type": "integer"}
    schema["required"].append("priority")
    path.write_text(json.dumps(schema), encoding="utf-8")
    return folder


def test_the_command_fails_on_the_issues_change_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compatibility.main([]) == 0
    capsys.readouterr()
    schemas = _mutated_schemas(tmp_path / "schemas")
    assert compatibility.main(["--schemas", str(schemas)]) == 1
    out = capsys.readouterr().out
    assert f"BREAKING {REQUESTED} [FULL_TRANSITIVE]" in out
    assert "age_band: field_removed" in out
    assert "priority: field_added (required)" in out
    assert "1 breaking" in out


def test_release_records_a_snapshot_and_refuses_what_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    released = tmp_path / "released"
    shutil.copytree(compatibility.RELEASED_DIR, released)
    assert compatibility.main(["--against", str(released), "--release", "0.1.0"]) == 1
    assert "not after the last one" in capsys.readouterr().out
    schemas = _mutated_schemas(tmp_path / "schemas")
    args = ["--against", str(released), "--schemas", str(schemas), "--release", "0.2.0"]
    assert compatibility.main(args) == 1
    assert "breaking changes" in capsys.readouterr().out
    assert not (released / "0.2.0").exists()

    assert compatibility.main(["--against", str(released), "--release", "0.2.0"]) == 0
    manifest = json.loads((released / "manifest.json").read_text(encoding="utf-8"))
    assert [entry["version"] for entry in manifest["releases"]] == ["0.1.0", "0.2.0"]
    assert len(list((released / "0.2.0").glob("*.schema.json"))) == len(EVENT_MODELS)
    assert [r.version for r in load_snapshots(released).releases] == ["0.1.0", "0.2.0"]
