"""`make run` and the e2e system: identity flows one way, and the keys are where they belong."""

from __future__ import annotations

from pathlib import Path

from chassis.keypairs import load_opener, load_sealer
from localrun.system import Ports, system_processes


def test_only_agency_apis_reach_the_cases_api_and_the_shared_key_pairs_exist(tmp_path: Path):
    ports = Ports.fixed(("police",))
    specs = {
        spec.name: spec
        for spec in system_processes(
            data_dir=tmp_path, bootstrap_servers="127.0.0.1:9092", ports=ports, agencies=("police",)
        )
    }
    cases_url = f"http://127.0.0.1:{ports.api['cases']}"
    assert specs["agency-police-api"].env["AGENCY_CASES_API_URL"] == cases_url
    # The referrals worker never calls back upstream: nothing to reach the cases API with.
    referrals = specs["referrals-worker"].env
    assert not any(name.startswith("REFERRALS_CASES_API") for name in referrals)
    keys = tmp_path / "keys"
    for pair in ("cases-intake", "dead-letters"):
        sealed = load_sealer(keys / f"{pair}.public.json").seal("x", context="c")
        assert load_opener(keys / f"{pair}.private.json").open(sealed, context="c") == "x"
