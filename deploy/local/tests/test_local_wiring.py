"""`make run` and the e2e system: identity flows one way, the keys are where they belong, and
each layout runs every service with the same settings."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chassis.keypairs import load_opener, load_sealer
from localrun.supervisor import ProcessSpec
from localrun.system import (
    Layout,
    Ports,
    ready_when_all_answer,
    store_migrations,
    system_processes,
)


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


def test_the_combined_layout_runs_each_service_in_one_process_with_the_same_settings(
    tmp_path: Path,
):
    ports = Ports.fixed(("police",))

    def layout(name: Layout) -> dict[str, ProcessSpec]:
        specs = system_processes(
            data_dir=tmp_path,
            bootstrap_servers="127.0.0.1:9092",
            ports=ports,
            agencies=("police",),
            layout=name,
        )
        return {spec.name: spec for spec in specs}

    separate, combined = layout("separate"), layout("combined")
    instances = ["cases", "referrals", "notifications", "reporting", "agency-police"]
    assert list(combined) == [*instances, "mail-sink"]
    for name in instances:
        both = combined[name]
        module = separate[f"{name}-worker"].argv[:3]
        assert both.argv == [*module, "all", "--port", str(ports.api[name])]
        # One process with the API's port and the worker's settings (its ops port included).
        assert both.env == separate[f"{name}-worker"].env == separate[f"{name}-api"].env
        assert both.ready_check is not None and both.ready_url is None
        assert both.public_url == separate[f"{name}-api"].public_url
    # Each store is migrated once either way, by the same command.
    assert [(m.instance, m.argv) for m in store_migrations(list(combined.values()))] == [
        (m.instance, m.argv) for m in store_migrations(list(separate.values()))
    ]


def test_a_combined_process_is_ready_only_when_its_api_and_its_worker_both_are():
    answers = {"/api/readyz": 200, "/worker/readyz": 503}

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        ready = ready_when_all_answer(f"{base}/api/readyz", f"{base}/worker/readyz")
        assert not ready()
        answers["/worker/readyz"] = 200
        assert ready()
    finally:
        server.shutdown()
        server.server_close()
    assert not ready()  # nothing answers at all
