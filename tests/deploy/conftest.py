"""Fixtures of the offline deployment checks: a pinned kustomize, the built overlays.

kustomize is built from the Go module proxy once (`go install`) into
`.cache/kustomize/<version>/` and reused; nothing here needs a cluster or a Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.support import (
    K8S,
    KUSTOMIZE_DIR,
    KUSTOMIZE_VERSION,
    OVERLAYS,
    build,
    load_generator,
)


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def kustomize() -> Path:
    binary = KUSTOMIZE_DIR / "kustomize"
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.skip("NOT VALIDATED: Go is not installed, kustomize cannot be built")
    built = subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        env={**os.environ, "GOBIN": str(KUSTOMIZE_DIR), "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, f"go install kustomize failed:\n{built.stderr}"
    return binary


@pytest.fixture(scope="session")
def overlays(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    """The manifests each overlay renders to, as a cluster would receive them."""
    return {name: build(kustomize, K8S / "overlays" / name) for name in OVERLAYS}
