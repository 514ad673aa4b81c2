"""The Dockerfile's build stage, replayed without Docker, makes a virtual environment that
runs the services on its own: no source tree, policy files inside the wheels, the CLI there.

The replay copies what each `COPY` of the build stage names (minus what `.dockerignore`
leaves out) into an empty folder and runs each `uv sync` exactly as written, with the
project's pinned uv. Then it starts a service from that environment, outside the repository.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from localrun.ports import free_port
from tests.deploy.support import REPO
from tests.deploy.test_dockerfile import instructions
from tests.support.system import eventually

UV = REPO / ".cache" / "uv-venv" / "bin" / "uv"
IGNORED_PARTS = {"tests", "__pycache__", "node_modules", ".venv", ".cache", "kafka"}


def _copy(source: str, destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--", source], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if IGNORED_PARTS & set(Path(name).parts):
            continue  # .dockerignore
        relative = Path(name).relative_to(source) if source != Path(name).as_posix() else None
        target = destination / relative if relative is not None else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists():
        pytest.skip("NOT VALIDATED: uv is not installed yet (run `make install`)")
    root = tmp_path_factory.mktemp("image")
    workdir, venv = root / "src", root / "venv"
    workdir.mkdir()
    steps = instructions((REPO / "Dockerfile").read_text())
    build_stage = steps[: [i for i, (k, _) in enumerate(steps) if k == "FROM"][1]]
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_LINK_MODE": "copy"}
    env.pop("VIRTUAL_ENV", None)
    for keyword, arguments in build_stage:
        if keyword == "COPY":
            *sources, destination = arguments.split()
            for source in sources:
                target = workdir / destination.rstrip("/")
                if destination.endswith("/") or destination == "./":
                    target = target / Path(source).name
                _copy(source, target)
        elif keyword == "RUN" and arguments.startswith("uv sync"):
            command = [str(UV), *shlex.split(arguments)[1:]]
            result = subprocess.run(
                command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, f"{arguments}:\n{result.stderr}"
    # The runtime stage copies only the environment: the sources must not be needed.
    shutil.rmtree(workdir)
    return venv


def test_the_environment_holds_the_packages_and_their_data_files(
    image_venv: Path, tmp_path: Path
) -> None:
    probe = (
        "import importlib.resources as r; "
        "print(r.files('referrals.policy').joinpath('routing.v1.yaml').is_file(), "
        "r.files('notifications.directory').joinpath('recipients.seed.yaml').is_file(), "
        "r.files('contracts.referrals').joinpath('field_policy.v1.yaml').is_file())"
    )
    result = subprocess.run(
        [str(image_venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path,  # not the repository: nothing may come from the source tree
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True", "True"], result.stderr
    assert (image_venv / "bin" / "lienganh").exists()
    for development_tool in ("pytest", "ruff", "mypy"):
        assert not (image_venv / "bin" / development_tool).exists(), development_tool


def test_a_service_starts_from_it_as_the_image_command_says(
    image_venv: Path, tmp_path: Path
) -> None:
    bin_dir = image_venv / "bin"
    keys = subprocess.run(
        [str(bin_dir / "lienganh"), "keys", "--data-dir", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert keys.returncode == 0, keys.stderr
    port = free_port()
    api = subprocess.Popen(
        [
            str(bin_dir / "python"),
            "-m",
            "referrals",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "REFERRALS_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def ready() -> None:
            if api.poll() is not None:  # died: fail now, with its error, not at the deadline
                raise RuntimeError(api.stderr.read().decode() if api.stderr else "exited")
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            assert response.status_code == 200, response.text

        eventually(ready, timeout_s=90)
    finally:
        api.terminate()
        api.wait(timeout=30)
