"""The `lienganh` commands developers run: tokens from the local issuer, topic creation, run."""

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


def test_keys_creates_the_issuer_key_pair_once_and_keeps_it(tmp_path: Path):
    first = runner.invoke(app, ["keys", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    public_key = Path(first.output.strip())
    assert public_key == tmp_path / "keys" / "jwt-public.pem"
    pem = public_key.read_bytes()
    again = runner.invoke(app, ["keys", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0, again.output
    assert public_key.read_bytes() == pem  # a second run must not rotate the key
    assert LocalIssuer(tmp_path / "keys").public_key_pem() == pem


def test_keyring_creates_then_rotates_and_old_records_still_open(tmp_path: Path):
    from chassis.crypto import load_or_create_keyring

    path = tmp_path / "cases-keyring.json"
    created = runner.invoke(app, ["keyring", "--file", str(path)])
    assert created.exit_code == 0, created.output
    assert created.output.strip() == "k1"
    sealed = load_or_create_keyring(path).encrypt("Nguyễn Văn Giả Định", context="child_name")
    rotated = runner.invoke(app, ["keyring", "--file", str(path), "--rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert rotated.output.strip() == "k2"
    cipher = load_or_create_keyring(path)
    assert cipher.active_key_id == "k2"
    assert cipher.decrypt(sealed, context="child_name") == "Nguyễn Văn Giả Định"


def test_keyring_rotation_refuses_a_missing_file(tmp_path: Path):
    result = runner.invoke(app, ["keyring", "--file", str(tmp_path / "typo.json"), "--rotate"])
    assert result.exit_code != 0
    assert not (tmp_path / "typo.json").exists()


@pytest.mark.kafka
def test_topics_command_is_idempotent(kafka_broker):
    args = ["topics", "--bootstrap", kafka_broker.bootstrap_servers]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "0 topic(s) created" in result.output  # the session fixture created them already


@pytest.mark.parametrize(
    ("given", "expected"), [([], "combined"), (["--layout", "separate"], "separate")]
)
def test_run_lays_services_out_as_asked_and_one_process_each_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str], expected: str
):
    started: list[str] = []
    monkeypatch.setattr(
        "localrun.run.run_system",
        lambda data_dir, agencies, console, layout: started.append(layout),
    )
    result = runner.invoke(app, ["run", "--data-dir", str(tmp_path), *given])
    assert result.exit_code == 0, result.output
    assert started == [expected]


def test_run_refuses_an_unknown_layout(tmp_path: Path):
    result = runner.invoke(app, ["run", "--data-dir", str(tmp_path), "--layout", "merged"])
    assert result.exit_code == 2
    assert "merged" in result.output and "separate, combined" in result.output
