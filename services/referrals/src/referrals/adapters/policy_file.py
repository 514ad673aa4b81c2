"""Loads the routing policy YAML and refuses to start on an invalid one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from referrals.domain.routing import RoutingPolicy


class InvalidPolicy(ValueError):
    """The policy file cannot be used; the message names the place and the problem."""


def default_policy_path() -> Path:
    return Path(str(resources.files("referrals.policy").joinpath("routing.v1.yaml")))


def load_policy(path: Path, known_agencies: set[str] | None = None) -> RoutingPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InvalidPolicy(f"{path}: not valid YAML: {error}") from error
    try:
        policy = RoutingPolicy.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        raise InvalidPolicy(f"{path}: {problems}") from error
    if known_agencies is not None:
        for index, rule in enumerate(policy.rules):
            for agency in (rule.lead, *(extra.agency for extra in rule.also)):
                if agency not in known_agencies:
                    raise InvalidPolicy(f"{path}: rules.{index}: unknown agency {agency!r}")
    return policy
