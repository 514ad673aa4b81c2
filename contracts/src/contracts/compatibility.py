"""Schema compatibility: the current contracts against the released snapshots.

`python -m contracts.compatibility` compares the JSON Schema every model generates now with
each released snapshot in `contracts/released/` and classifies every difference as
compatible or breaking under the compatibility mode of the topics the type travels on
(`TopicSpec.compatibility`); it exits 1 on a breaking change. `--release 0.2.0` records
the current schemas as a new snapshot (only when they pass). docs/contracts.md states the
policy; in short, for each difference it asks two questions:

- backward: can a reader built from the new schema read data written with the old one?
- forward: can a reader built from the old schema read data written with the new one?

Readers are tolerant (`EventModel.read`): they ignore fields they do not know, and they do
not enforce the field policy's key names (`propertyNames`, the `allOf` rules) on what they
receive. They are strict about every value of a field they know: a new enum value, a longer
string, a new type in a union all break a reader of the old schema.

| difference | backward | forward |
|---|---|---|
| optional field added | yes | yes (ignored) |
| required field added | no (old data lacks it) | yes (ignored) |
| field removed | yes (ignored) | no (required: missing; optional: a default that lies) |
| optional made required | no | yes |
| required made optional | no longer sent: yes | no |
| widened: enum value, union member, looser bound, pattern or format dropped | yes | no |
| narrowed: the opposite | no | yes |
| type changed, pattern or format changed | no | no |
| map key names (`propertyNames` enum) or field-policy rules changed | yes | yes |

A mode needs backward (BACKWARD), forward (FORWARD) or both (FULL); `_TRANSITIVE` checks
against every release instead of the last one. A renamed field is a removal plus an addition.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.generate import event_types_for, json_schemas
from contracts.registry import EVENT_MODELS
from contracts.topics import DEFAULT_COMPATIBILITY, Compatibility, declared_topics

JSON = dict[str, Any]

# contracts/src/contracts/compatibility.py -> contracts/
CONTRACTS_DIR = Path(__file__).resolve().parents[2]
RELEASED_DIR = CONTRACTS_DIR / "released"
MANIFEST = "manifest.json"
SCHEMA_SUFFIX = ".schema.json"

# Keywords that describe and do not constrain: a change to them changes no reader.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "$schema", "$id"}
)
_APPLICATORS = frozenset({"anyOf", "oneOf", "$ref", "$defs"})
# keyword -> True when a larger value accepts more (an upper bound).
_BOUNDS: dict[str, bool] = {
    "maxLength": True,
    "minLength": False,
    "maximum": True,
    "exclusiveMaximum": True,
    "minimum": False,
    "exclusiveMinimum": False,
    "maxItems": True,
    "minItems": False,
    "maxProperties": True,
    "minProperties": False,
}
_HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "pattern",
        "format",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "items",
        "allOf",
        *_BOUNDS,
    }
)


@dataclass(frozen=True)
class Change:
    """One difference between an old and a new schema of an event type."""

    path: str
    kind: str
    detail: str
    backward: bool
    forward: bool

    def breaks(self, mode: Compatibility) -> bool:
        return (mode.backward and not self.backward) or (mode.forward and not self.forward)

    def __str__(self) -> str:
        return f"{self.path or '(payload)'}: {self.kind} ({self.detail})"


@dataclass
class TypeReport:
    """What changed in one event type since each release it is checked against."""

    ce_type: str
    mode: Compatibility
    changes: dict[str, list[Change]] = field(default_factory=dict)  # release -> changes
    problems: list[str] = field(default_factory=list)  # breaking, with their release

    @property
    def breaking(self) -> bool:
        return bool(self.problems)


# --- comparing two schemas -----------------------------------------------------------------


def compare(old: JSON, new: JSON) -> list[Change]:
    """Every difference between two JSON Schemas of one payload, classified."""
    return _Comparison(old, new).node(old, new, "")


class _Comparison:
    def __init__(self, old_root: JSON, new_root: JSON) -> None:
        self._old_defs = old_root.get("$defs", {})
        self._new_defs = new_root.get("$defs", {})

    def node(self, old: JSON, new: JSON, path: str) -> list[Change]:
        old, new = self._resolve(old, self._old_defs), self._resolve(new, self._new_defs)
        if _constraints(old) == _constraints(new):
            return []
        return self._branches(_branches(old), _branches(new), path)

    @staticmethod
    def _resolve(node: JSON, defs: Mapping[str, JSON]) -> JSON:
        for _ in range(32):  # pydantic's definitions do not nest deeper than this
            ref = node.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
                return node
            rest = {key: value for key, value in node.items() if key != "$ref"}
            node = defs[ref.removeprefix("#/$defs/")] | rest
        raise ValueError(f"$ref chain too long at {node}")

    def _branches(self, old: list[JSON], new: list[JSON], path: str) -> list[Change]:
        old = [self._resolve(branch, self._old_defs) for branch in old]
        new = [self._resolve(branch, self._new_defs) for branch in new]
        unmatched_new = list(new)
        changes: list[Change] = []
        lost: list[JSON] = []
        for branch in old:
            twin = next((b for b in unmatched_new if _kind(b) == _kind(branch)), None)
            if twin is None:
                lost.append(branch)
                continue
            unmatched_new.remove(twin)
            changes.extend(self._same_kind(branch, twin, path))
        if lost and unmatched_new and len(old) == len(new) == 1:
            widened = (_kind(lost[0]), _kind(unmatched_new[0])) == ("integer", "number")
            detail = f"{_kind(lost[0])} → {_kind(unmatched_new[0])}"
            if widened:
                return [Change(path, "widened", detail, backward=True, forward=False)]
            return [Change(path, "type_changed", detail, backward=False, forward=False)]
        changes += [
            Change(path, "narrowed", f"no longer accepts {_kind(b)}", backward=False, forward=True)
            for b in lost
        ]
        changes += [
            Change(path, "widened", f"now also accepts {_kind(b)}", backward=True, forward=False)
            for b in unmatched_new
        ]
        return changes

    def _same_kind(self, old: JSON, new: JSON, path: str) -> list[Change]:
        changes = _values(old, new, path)
        changes += _strings(old, new, path)
        changes += _bounds(old, new, path)
        changes += self._object(old, new, path)
        if "items" in old or "items" in new:
            changes += self._sub(old.get("items", True), new.get("items", True), f"{path}[]")
        changes += _policy_rules(old, new, path)
        for keyword in sorted((set(old) | set(new)) - _HANDLED - _ANNOTATIONS - _APPLICATORS):
            if old.get(keyword) != new.get(keyword):
                detail = f"unclassified keyword {keyword!r} changed"
                changes.append(Change(path, "changed", detail, backward=False, forward=False))
        return changes

    def _sub(self, old: Any, new: Any, path: str) -> list[Change]:
        """Compare two subschemas that may be booleans (`true` any value, `false` none)."""
        if old == new:
            return []
        if isinstance(old, dict) and isinstance(new, dict):
            return self.node(old, new, path)
        if new is True or old is False:
            return [Change(path, "widened", "constraint dropped", backward=True, forward=False)]
        return [Change(path, "narrowed", "constraint added", backward=False, forward=True)]

    def _object(self, old: JSON, new: JSON, path: str) -> list[Change]:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        changes: list[Change] = []
        for name in sorted(set(old_props) | set(new_props)):
            at = f"{path}.{name}" if path else name
            if name not in new_props:
                was = "required" if name in old_required else "optional"
                changes.append(
                    Change(at, "field_removed", f"{was} field", backward=True, forward=False)
                )
            elif name not in old_props:
                if name in new_required:
                    changes.append(
                        Change(at, "field_added", "required", backward=False, forward=True)
                    )
                else:
                    changes.append(
                        Change(at, "field_added", "optional", backward=True, forward=True)
                    )
            else:
                if name in new_required and name not in old_required:
                    changes.append(
                        Change(at, "made_required", "was optional", backward=False, forward=True)
                    )
                if name in old_required and name not in new_required:
                    changes.append(
                        Change(at, "made_optional", "was required", backward=True, forward=False)
                    )
                changes.extend(self.node(old_props[name], new_props[name], at))
        if "additionalProperties" in old or "additionalProperties" in new:
            changes += self._sub(
                old.get("additionalProperties", True),
                new.get("additionalProperties", True),
                f"{path}{{}}",
            )
        if old.get("propertyNames") != new.get("propertyNames"):
            changes += _key_names(old.get("propertyNames"), new.get("propertyNames"), path)
        return changes


def _constraints(node: JSON) -> JSON:
    return {key: value for key, value in node.items() if key not in _ANNOTATIONS}


def _branches(node: JSON) -> list[JSON]:
    for keyword in ("anyOf", "oneOf"):
        if keyword in node:
            rest = {key: value for key, value in node.items() if key != keyword}
            return [branch | rest for branch in node[keyword]]
    return [node]


def _kind(node: JSON) -> str:
    declared = node.get("type")
    if isinstance(declared, str):
        return declared
    values = node.get("enum", [node["const"]] if "const" in node else None)
    if values:
        kinds = {type(value).__name__ for value in values}
        return {"str": "string", "int": "integer", "bool": "boolean"}.get(kinds.pop(), "any")
    if "properties" in node:
        return "object"
    return "any"


def _values(old: JSON, new: JSON, path: str) -> list[Change]:
    changes: list[Change] = []
    old_values = _allowed_values(old)
    new_values = _allowed_values(new)
    if old_values == new_values:
        return changes
    if old_values is None:
        detail = f"now only {sorted(new_values or [], key=str)}"
        return [Change(path, "narrowed", detail, backward=False, forward=True)]
    if new_values is None:
        return [Change(path, "widened", "any value now", backward=True, forward=False)]
    added = [value for value in new_values if value not in old_values]
    removed = [value for value in old_values if value not in new_values]
    if added:
        detail = f"values added: {added}"
        changes.append(Change(path, "enum_widened", detail, backward=True, forward=False))
    if removed:
        detail = f"values removed: {removed}"
        changes.append(Change(path, "enum_narrowed", detail, backward=False, forward=True))
    return changes


def _allowed_values(node: JSON) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    values = node.get("enum")
    return list(values) if isinstance(values, list) else None


def _strings(old: JSON, new: JSON, path: str) -> list[Change]:
    changes: list[Change] = []
    for keyword in ("pattern", "format"):
        before, after = old.get(keyword), new.get(keyword)
        if before == after:
            continue
        if before is None:
            detail = f"{keyword} {after!r} added"
            changes.append(Change(path, "narrowed", detail, backward=False, forward=True))
        elif after is None:
            detail = f"{keyword} {before!r} dropped"
            changes.append(Change(path, "widened", detail, backward=True, forward=False))
        else:
            # Neither regular expression is known to contain the other.
            detail = f"{keyword} {before!r} → {after!r}"
            changes.append(Change(path, f"{keyword}_changed", detail, False, False))
    return changes


def _bounds(old: JSON, new: JSON, path: str) -> list[Change]:
    changes: list[Change] = []
    for keyword, upper in _BOUNDS.items():
        before, after = old.get(keyword), new.get(keyword)
        if before == after:
            continue
        if before is None or after is None:
            looser = before is not None
        else:
            looser = after > before if upper else after < before
        detail = f"{keyword} {before} → {after}"
        if looser:
            changes.append(Change(path, "widened", detail, backward=True, forward=False))
        else:
            changes.append(Change(path, "narrowed", detail, backward=False, forward=True))
    return changes


def _key_names(old: Any, new: Any, path: str) -> list[Change]:
    # Map keys named by a list (the field policy's field names): readers keep keys they do
    # not know (a sealed value they cannot open is harmless) and only producers are held to
    # the names. Any other key constraint (a pattern) is compared like a string's.
    if _names_or_any(old) and _names_or_any(new):
        before, after = _names(old), _names(new)
        if before and after:
            added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
            detail = f"key names added {added}, removed {removed}"
        else:
            detail = f"key names {'listed' if before else 'any'} → {'listed' if after else 'any'}"
        return [Change(f"{path}{{keys}}", "key_names_changed", detail, True, True)]
    old_node = old if isinstance(old, dict) else {}
    new_node = new if isinstance(new, dict) else {}
    return _Comparison({}, {}).node(old_node, new_node, f"{path}{{keys}}")


def _names_or_any(node: Any) -> bool:
    return node is None or (isinstance(node, dict) and set(node) == {"enum"})


def _names(node: Any) -> list[str]:
    return sorted(node["enum"]) if isinstance(node, dict) else []


def _policy_rules(old: JSON, new: JSON, path: str) -> list[Change]:
    # `allOf` holds only the field policy's if/then rules (which keys a view may carry).
    before, after = old.get("allOf", []), new.get("allOf", [])
    if before == after:
        return []
    added = sum(rule not in before for rule in after)
    removed = sum(rule not in after for rule in before)
    detail = f"field-policy rules: {added} added, {removed} removed"
    return [Change(path, "field_policy_changed", detail, backward=True, forward=True)]


# --- modes, snapshots, reports -------------------------------------------------------------


def modes() -> dict[str, Compatibility]:
    """Each event type's mode: the strictest of the topics it travels on."""
    found: dict[str, list[Compatibility]] = {ce_type: [] for ce_type in EVENT_MODELS}
    for topic in declared_topics():
        if topic.compatibility is Compatibility.NONE:
            continue
        for model in event_types_for(topic.name):
            found[model.ce_type].append(topic.compatibility)
    return {ce_type: _strictest(declared) for ce_type, declared in found.items()}


def _strictest(declared: Sequence[Compatibility]) -> Compatibility:
    if not declared:
        return DEFAULT_COMPATIBILITY
    backward = any(mode.backward for mode in declared)
    forward = any(mode.forward for mode in declared)
    transitive = any(mode.transitive for mode in declared)
    name = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD"
    return Compatibility(name + ("_TRANSITIVE" if transitive else ""))


@dataclass(frozen=True)
class Release:
    version: str
    schemas: dict[str, JSON]  # ce_type -> schema


@dataclass(frozen=True)
class Snapshots:
    """The released snapshots, oldest first, and the types retired on purpose."""

    releases: tuple[Release, ...]
    retired: frozenset[str] = frozenset()


def load_snapshots(folder: Path = RELEASED_DIR) -> Snapshots:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return Snapshots(())
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    releases = []
    for entry in manifest["releases"]:
        version = entry["version"]
        schemas = {
            path.name.removesuffix(SCHEMA_SUFFIX): json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((folder / version).glob(f"*{SCHEMA_SUFFIX}"))
        }
        releases.append(Release(version, schemas))
    return Snapshots(tuple(releases), frozenset(manifest.get("retired", ())))


def current_schemas(folder: Path | None = None) -> dict[str, JSON]:
    """ce_type -> schema: generated from the models, or read from a schemas folder."""
    if folder is None:
        return {name.removesuffix(SCHEMA_SUFFIX): schema for name, schema in json_schemas().items()}
    return {
        path.name.removesuffix(SCHEMA_SUFFIX): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob(f"*{SCHEMA_SUFFIX}"))
    }


def check(
    current: Mapping[str, JSON],
    snapshots: Snapshots,
    type_modes: Mapping[str, Compatibility] | None = None,
) -> list[TypeReport]:
    """A report per event type (current or released), breaking changes named."""
    type_modes = modes() if type_modes is None else type_modes
    released = sorted({ce_type for release in snapshots.releases for ce_type in release.schemas})
    reports = []
    for ce_type in sorted(set(current) | set(released)):
        mode = type_modes.get(ce_type, DEFAULT_COMPATIBILITY)
        report = TypeReport(ce_type, mode)
        holding = [release for release in snapshots.releases if ce_type in release.schemas]
        if ce_type not in current:
            if ce_type not in snapshots.retired:
                report.problems.append(
                    f"type removed (released in {holding[-1].version}); list it under "
                    f"`retired` in {MANIFEST} once no consumer reads it"
                )
        elif mode is not Compatibility.NONE:
            against = holding if mode.transitive else holding[-1:]
            for release in against:
                changes = compare(release.schemas[ce_type], current[ce_type])
                report.changes[release.version] = changes
                report.problems += [
                    f"{change} breaks {mode.value} against {release.version}"
                    for change in changes
                    if change.breaks(mode)
                ]
        reports.append(report)
    return reports


def render(reports: Iterable[TypeReport]) -> list[str]:
    lines = []
    for report in reports:
        if report.breaking:
            lines.append(f"BREAKING {report.ce_type} [{report.mode.value}]")
            lines += [f"  - {problem}" for problem in report.problems]
            continue
        changes = [c for changes in report.changes.values() for c in changes]
        if not report.changes:
            state = "unchecked" if report.mode is Compatibility.NONE else "new (not released)"
        else:
            state = f"compatible, {len(changes)} change(s)" if changes else "unchanged"
        lines.append(f"ok       {report.ce_type} [{report.mode.value}]: {state}")
        lines += [f"  - {change}" for change in dict.fromkeys(changes)]
    return lines


# --- cutting a release ---------------------------------------------------------------------


def _version_key(version: str) -> tuple[int, ...]:
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"release {version!r} is not MAJOR.MINOR.PATCH")
    return tuple(int(part) for part in parts)


def release(
    version: str, current: Mapping[str, JSON], folder: Path = RELEASED_DIR, *, today: str = ""
) -> Path:
    """Record `current` as release `version`; refuse when it breaks an earlier release."""
    snapshots = load_snapshots(folder)
    key = _version_key(version)
    known = [entry.version for entry in snapshots.releases]
    if known and key <= _version_key(known[-1]):
        raise ValueError(f"release {version} is not after the last one, {known[-1]}")
    breaking = [report for report in check(current, snapshots) if report.breaking]
    if breaking:
        names = ", ".join(report.ce_type for report in breaking)
        raise ValueError(f"breaking changes against earlier releases in: {names}")
    target = folder / version
    target.mkdir(parents=True, exist_ok=False)
    for ce_type, schema in sorted(current.items()):
        text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        (target / f"{ce_type}{SCHEMA_SUFFIX}").write_text(text, encoding="utf-8", newline="\n")
    manifest_path = folder / MANIFEST
    manifest = (
        json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest_path.is_file()
        else {"releases": [], "retired": []}
    )
    manifest["releases"].append(
        {
            "version": version,
            "date": today or datetime.now(UTC).date().isoformat(),
            "types": sorted(current),
        }
    )
    manifest_path.write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n"
    )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.compatibility",
        description="Check the event schemas against the released snapshots, or cut a release.",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=RELEASED_DIR,
        help="folder of released snapshots (default: %(default)s)",
    )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=None,
        help="compare this folder of *.schema.json instead of what the models generate",
    )
    parser.add_argument(
        "--release", metavar="VERSION", help="record the current schemas as release VERSION"
    )
    args = parser.parse_args(argv)
    current = current_schemas(args.schemas)
    if args.release:
        try:
            target = release(args.release, current, args.against)
        except ValueError as error:
            print(f"no release: {error}")
            return 1
        print(f"released {args.release}: {len(current)} schema(s) in {target}")
        return 0
    snapshots = load_snapshots(args.against)
    reports = check(current, snapshots)
    for line in render(reports):
        print(line)
    versions = ", ".join(entry.version for entry in snapshots.releases) or "none"
    breaking = [report for report in reports if report.breaking]
    print(f"{len(reports)} type(s) checked against release(s) {versions}: {len(breaking)} breaking")
    if breaking:
        print("a breaking change needs a new vN type on a new topic: see docs/contracts.md")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
