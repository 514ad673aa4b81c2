"""What the offline deployment checks share: paths, the generator, kustomize builds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZE_VERSION = "v5.8.1"  # the newest that builds with this machine's Go (1.26)
KUSTOMIZE_DIR = REPO / ".cache" / "kustomize" / KUSTOMIZE_VERSION
OVERLAYS = ("dev", "prod")
# Development stand-ins among `make run`'s processes: compose runs a third-party image
# instead, a cluster uses the province's own service (the `smtp-relay` name).
LOCAL_STAND_INS = {"mail-sink": "mailpit"}


def load_generator() -> ModuleType:
    """deploy/k8s/generate.py is a script, not a package: load it by path."""
    name = "k8s_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def build(kustomize: Path, directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kustomize), "build", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
