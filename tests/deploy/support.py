"""What the offline deployment checks share: paths, the generator, kustomize builds."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from localrun.manifest import load_manifest, stand_in_names

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZE_VERSION = "v5.8.1"  # the newest that builds with this machine's Go (1.26)
KUSTOMIZE_DIR = REPO / ".cache" / "kustomize" / KUSTOMIZE_VERSION
OVERLAYS = ("dev", "prod")
# Development stand-ins among `make run`'s processes: compose runs a third-party image
# instead, a cluster uses the province's own service (the `smtp-relay` name).
LOCAL_STAND_INS = dict(stand_in_names(load_manifest()))


def load_generator() -> ModuleType:
    """deploy/k8s/generate.py, the command line of the Kubernetes base (the repo root is on
    the test path, so it imports as a module)."""
    return importlib.import_module("deploy.k8s.generate")


def build(kustomize: Path, directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kustomize), "build", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
