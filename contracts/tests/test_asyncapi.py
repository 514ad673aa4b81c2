"""The AsyncAPI document passes the official parser (@asyncapi/parser on Node), offline.

The validator's dependencies are installed from its package-lock.json on first use. Only
when node or npm is not installed at all is this skipped, and the skip says so loudly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.generate import ASYNCAPI_FILE, CONTRACTS_DIR, asyncapi_document

TOOL_DIR = CONTRACTS_DIR / "tools" / "asyncapi-validate"
DOCUMENT = CONTRACTS_DIR / ASYNCAPI_FILE


@pytest.fixture(scope="module")
def validator() -> Callable[[Path], subprocess.CompletedProcess[str]]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("NOT VALIDATED: node/npm not installed, the AsyncAPI parser cannot run")
    if not (TOOL_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=TOOL_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"

    def validate(document: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, "validate.mjs", str(document)],
            cwd=TOOL_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return validate


def test_the_committed_document_is_valid_asyncapi(
    validator: Callable[[Path], subprocess.CompletedProcess[str]],
) -> None:
    result = validator(DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout
    assert "valid AsyncAPI 3.0.0" in result.stdout


def _break_reference(document: dict[str, Any]) -> None:
    channel = document["channels"]["cases.events.v1"]
    channel["messages"]["vn.lienganh.case.received.v1"]["$ref"] = "#/components/messages/gone"


def _break_field(document: dict[str, Any]) -> None:
    document["operations"]["cases_send_cases.events.v1"]["action"] = "publish"


def _break_binding(document: dict[str, Any]) -> None:
    document["channels"]["cases.events.v1"]["bindings"]["kafka"]["partitions"] = 0


def _remote_reference(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["Sex"] = {"$ref": "https://example.invalid/sex.json"}


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_break_reference, "#/components/messages/gone"),
        (_break_field, "action"),
        (_break_binding, "partitions"),
        (_remote_reference, "network access is disabled"),
    ],
    ids=["dangling-ref", "bad-operation-action", "bad-kafka-binding", "remote-ref"],
)
def test_a_broken_document_fails_validation(
    validator: Callable[[Path], subprocess.CompletedProcess[str]],
    tmp_path: Path,
    breakage: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    document = asyncapi_document()
    breakage(document)
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    result = validator(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error\t")]
    assert any(expected in line for line in errors), result.stdout


def test_a_missing_file_is_a_usage_error(
    validator: Callable[[Path], subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    assert validator(tmp_path / "nothing.yaml").returncode == 2
