"""Loads the routing policy YAML and refuses to start on an invalid one.

The file is checked against `routing.schema.json` (JSON Schema) with the line of each
problem, so an operator editing the policy sees where it is wrong, then against the
agency registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from referrals.domain.routing import RoutingPolicy


class InvalidPolicy(ValueError):
    """The policy file cannot be used; the message names the place and the problem."""


def default_policy_path() -> Path:
    return Path(str(resources.files("referrals.policy").joinpath("routing.v1.yaml")))


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("referrals.policy").joinpath("routing.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def load_policy(path: Path, known_agencies: Iterable[str] | None = None) -> RoutingPolicy:
    text = path.read_text(encoding="utf-8")
    try:
        # Nodes keep their positions; the plain data is built from the same parse.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidPolicy(f"{path}: not valid YAML: {error}") from error
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise InvalidPolicy("; ".join(_describe(path, root, error) for error in errors[:5]))
    policy = RoutingPolicy.model_validate(raw)
    if known_agencies is not None:
        unknown = sorted(policy.agencies() - set(known_agencies))
        if unknown:
            raise InvalidPolicy(f"{path}: names agencies missing from the registry: {unknown}")
    return policy


def _describe(path: Path, root: yaml.Node | None, error: SchemaError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "<root>"
    line = _line_of(root, list(error.absolute_path))
    return f"{path}:{line}: {where}: {error.message}"


def _line_of(node: yaml.Node | None, parts: list[Any]) -> int:
    """1-based line of the deepest node on `parts` that exists."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in parts:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line
