"""Every API answers as its OpenAPI document says: schemathesis against the whole system.

Schemathesis generates requests from each `/openapi.json` (valid and invalid ones) and checks
every answer: no server error, a declared status code, the declared content type, a body
that matches the declared schema. It writes — reports cases, creates and deletes officers,
acts on referrals with the ids it finds in lists — so it runs against a throwaway system of
its own (broker and services in a temporary folder), never the session's `system`.

Nothing leaves the machine: every URL is 127.0.0.1, and the runs get a dead proxy for any
other host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.topics import DEFAULT_AGENCIES, declared_topics
from tests.e2e.test_walking_skeleton import report
from tests.support.system import RunningSystem, eventually, start_system

# The timeout bounds a stuck run; on two quiet cores the module takes a few minutes.
pytestmark = [
    pytest.mark.kafka,
    pytest.mark.e2e,
    pytest.mark.own_system,
    pytest.mark.timeout(1800),
]

# Test cases per operation and phase: enough to reach every declared code, few enough that
# the eight APIs take a few minutes on two cores.
MAX_EXAMPLES = 5
CONCURRENT_RUNS = 4
SEED = 20261201  # the same requests every run; change it to explore
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
DEAD_PROXY = "http://127.0.0.1:9"

# Who calls each API: an officer whose agency and roles pass every route's rule
# (contracts/access/policy.v1.yaml), in every province, so the runs reach the routes' logic.
CALLERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cases": ("st-dolisa-cases", "dolisa", ("case_worker", "coordinator", "intake")),
    "referrals": ("st-dolisa-referrals", "dolisa", ("coordinator", "supervisor", "case_worker")),
    "notifications": ("st-dolisa-admin", "dolisa", ("admin",)),
    "reporting": ("st-statistician", "dolisa", ("statistician",)),
    **{
        f"agency-{agency}": (f"st-{agency}", agency, ("inspector", "case_worker", "supervisor"))
        for agency in DEFAULT_AGENCIES
    },
}


@dataclass(frozen=True)
class Run:
    api: str
    returncode: int
    output: str
    report: dict

    def problems(self) -> list[str]:
        found = [f"{f['code']} {f['title']}: {f['operations']}" for f in self.report["failures"]]
        found += [f"error: {json.dumps(error)[:500]}" for error in self.report["errors"]]
        operations = self.report["operations"]
        if not operations["total"] or operations["tested"] != operations["total"]:
            found.append(f"not every operation was tested: {operations}")
        if self.returncode != 0 and not found:
            found.append(f"schemathesis exited with {self.returncode}")
        return found

    def failing_cases(self) -> str:
        """The CLI's own account: each failing request, its answer and a curl to replay it."""
        match = re.search(r"={5,} FAILURES ={5,}\n(.*?)(?:\n={5,} )", self.output, re.S)
        return match.group(1) if match else self.output[-6000:]


@pytest.fixture(scope="module")
def throwaway_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    from localrun.kafka import LocalBroker, ensure_kafka_jars
    from localrun.topics import create_topics

    ensure_kafka_jars()
    broker = LocalBroker(tmp_path_factory.mktemp("conformance-kafka"))
    broker.start()
    try:
        create_topics(broker.bootstrap_servers, declared_topics())
        running = start_system(
            tmp_path_factory.mktemp("conformance-system"),
            broker.bootstrap_servers,
            DEFAULT_AGENCIES,
        )
        try:
            _seed(running)
            yield running
        finally:
            running.supervisor.stop()
    finally:
        broker.stop()


def _seed(system: RunningSystem) -> None:
    """Something for the lists to show, so the runs reuse real ids: one hotline case twice
    (a probable duplicate), and its referrals in the police and DOLISA inboxes."""
    hotline = system.token("st-hotline", "hotline_111", ["intake"], ["01"])
    case_ids = []
    for _ in range(2):
        answer = system.post("cases", "/cases", hotline, report())
        assert answer.status_code == 201, answer.text
        case_ids.append(answer.json()["case_id"])
    for api in ("agency-police", "agency-dolisa"):
        subject, agency, roles = CALLERS[api]
        token = system.token(subject, agency, roles, ["01"])

        def arrived(api: str = api, token: str = token) -> None:
            listed = system.get(api, "/referrals", token).json()
            assert {item["case_id"] for item in listed} >= set(case_ids)

        eventually(arrived)


@pytest.fixture(scope="module")
def runs(throwaway_system: RunningSystem, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("schemathesis")
    with ThreadPoolExecutor(CONCURRENT_RUNS) as pool:
        futures = {
            api: pool.submit(_schemathesis, throwaway_system, api, folder / api) for api in CALLERS
        }
        return {api: future.result() for api, future in futures.items()}


def _schemathesis(system: RunningSystem, api: str, folder: Path) -> Run:
    folder.mkdir()
    subject, agency, roles = CALLERS[api]
    token = system.token(subject, agency, roles, ["*"])
    report_path = folder / "report.json"
    url = system.url(api, "/openapi.json")
    assert url.startswith("http://127.0.0.1:")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--max-redirects",
        "0",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
    ]
    # Any host but the loopback goes to a closed port: the runs cannot reach the network.
    proxies = {
        name: DEAD_PROXY
        for scheme in ("http", "https", "all")
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
    }
    env = {**os.environ, **proxies, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    if not report_path.exists():
        pytest.fail(f"schemathesis wrote no report for {api}:\n{output[-6000:]}")
    return Run(api, done.returncode, output, json.loads(report_path.read_text()))


@pytest.mark.parametrize("api", list(CALLERS))
def test_the_api_answers_as_its_openapi_document_says(runs: dict, api: str):
    run: Run = runs[api]
    problems = run.problems()
    cases = run.report["test_cases"]
    print(f"{api}: {run.report['operations']['tested']} operations, {cases['generated']} cases")
    assert not problems, f"{api}: {problems}\n\n{run.failing_cases()}"
    assert cases["generated"] > 0
