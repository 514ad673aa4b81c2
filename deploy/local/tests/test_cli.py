"""The `lienganh` commands developers run: tokens from the local issuer, topic creation."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chassis.auth import LocalIssuer
from localrun.cli import app

runner = CliRunner()


def test_token_mints_a_token_the_services_verify(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "token",
            "--subject",
            "police-inspector-hn-01",
            "--agency",
            "police",
            "--role",
            "inspector",
            "--province",
            "01",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "keys" / "jwt-private.pem").exists()  # made on first run
    principal = LocalIssuer(tmp_path / "keys").verifier().verify(result.output.strip())
    assert (principal.subject, principal.agency) == ("police-inspector-hn-01", "police")
    assert principal.roles == {"inspector"} and principal.provinces == {"01"}


@pytest.mark.kafka
def test_topics_command_is_idempotent(kafka_broker):
    args = ["topics", "--bootstrap", kafka_broker.bootstrap_servers]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "0 topic(s) created" in result.output  # the session fixture created them already
