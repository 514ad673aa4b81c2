"""Loads the recipients directory seed file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from notifications.domain.recipients import Directory


def default_directory_path() -> Path:
    return Path(str(resources.files("notifications.directory").joinpath("recipients.seed.yaml")))


def load_directory(path: Path) -> Directory:
    return Directory.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
