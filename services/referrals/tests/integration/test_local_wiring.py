"""`make run` and the e2e system give the referrals worker the cases API and its token."""

from __future__ import annotations

from pathlib import Path

from chassis.auth import LocalIssuer
from localrun.system import Ports, system_processes


def test_the_referrals_worker_gets_the_cases_api_and_a_router_token(tmp_path: Path):
    ports = Ports.fixed(("police",))
    specs = {
        spec.name: spec
        for spec in system_processes(
            data_dir=tmp_path, bootstrap_servers="127.0.0.1:9092", ports=ports, agencies=("police",)
        )
    }
    env = specs["referrals-worker"].env
    assert env["REFERRALS_CASES_API_URL"] == f"http://127.0.0.1:{ports.api['cases']}"
    token = Path(env["REFERRALS_CASES_API_TOKEN_FILE"]).read_text()
    principal = LocalIssuer(tmp_path / "keys").verifier().verify(token)
    assert principal.roles == frozenset({"referral_router"})
    assert (principal.subject, principal.provinces) == ("referrals-service", frozenset({"*"}))
    assert "REFERRALS_CASES_API_URL" not in specs["agency-police-worker"].env
