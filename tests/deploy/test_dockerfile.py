"""The Dockerfile builds every workspace package from uv.lock on a pinned base, as non-root.

No Docker engine here: the instructions are read and checked; the build's uv steps are the
same `uv sync --frozen` the Makefile runs, so the lock file itself is exercised by `make`.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.support import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def _stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for step in steps:
        if step[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(step)
    return stages


def _base_images(steps: list[tuple[str, str]]) -> list[str]:
    args = {
        name: value
        for keyword, arguments in steps
        if keyword == "ARG" and "=" in arguments
        for name, value in [arguments.split("=", 1)]
    }
    images = []
    for keyword, arguments in steps:
        if keyword == "FROM":
            image = arguments.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image))
    return images


def test_base_images_are_pinned_to_an_exact_version(steps: list[tuple[str, str]]) -> None:
    images = _base_images(steps)
    assert len(images) >= 2, "multi-stage: a build stage and a small runtime stage"
    for image in images:
        assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+", image), image


def test_the_runtime_stage_runs_as_a_fixed_unprivileged_user(
    steps: list[tuple[str, str]],
) -> None:
    runtime = _stages(steps)[-1]
    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, "numeric uid: runAsNonRoot can verify it"
    # The Kubernetes manifests and this image agree on the uid.
    generated = (REPO / "deploy/k8s/base/apps/cases.yaml").read_text()
    assert f"runAsUser: {user}" in generated


def test_the_runtime_stage_carries_only_the_virtual_environment(
    steps: list[tuple[str, str]],
) -> None:
    runtime = _stages(steps)[-1]
    copies = [arguments for keyword, arguments in runtime if keyword == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]
    command = next(arguments for keyword, arguments in reversed(runtime) if keyword == "CMD")
    assert command.startswith("["), "exec form: the process gets SIGTERM directly"


def test_dependencies_come_from_the_lock_file_only(steps: list[tuple[str, str]]) -> None:
    syncs = [
        arguments for keyword, arguments in steps if keyword == "RUN" and "uv sync" in arguments
    ]
    assert syncs and all("--frozen" in sync and "--no-dev" in sync for sync in syncs)
    makefile = (REPO / "Makefile").read_text()
    uv_version = re.search(r"^UV_VERSION := (\S+)", makefile, re.M)
    assert uv_version and f"uv=={uv_version[1]}" in DOCKERFILE.read_text()


def test_every_workspace_member_is_in_the_image(steps: list[tuple[str, str]]) -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = sorted(
        str(path.parent.relative_to(REPO))
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for path in REPO.glob(f"{pattern}/pyproject.toml")
    )
    copies = [arguments.split() for keyword, arguments in steps if keyword == "COPY"]
    manifests = {parts[0] for parts in copies if parts[0].endswith("pyproject.toml")}
    sources = {parts[0] for parts in copies if not parts[0].startswith("--")} - manifests
    for member in members:
        # Its manifest for the dependency layer, then its sources.
        assert f"{member}/pyproject.toml" in manifests, member
        assert any(member == src or member.startswith(f"{src}/") for src in sources), member


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for local_state in ("**/.venv", "**/.cache", "data", ".git", ".env", "**/tests"):
        assert local_state in ignored, local_state


def test_a_mutable_base_image_is_refused() -> None:
    steps = instructions("ARG BASE=python:3.11-slim\nFROM ${BASE} AS build\nFROM python:latest\n")
    images = _base_images(steps)
    assert images == ["python:3.11-slim", "python:latest"]
    assert not any("@sha256:" in image or re.search(r":\d+\.\d+\.\d+", image) for image in images)
