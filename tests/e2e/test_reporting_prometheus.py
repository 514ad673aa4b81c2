"""Reporting against the running system: a real Prometheus scrapes every process and never
holds a small cell (1-4) of a person count, nor one it could work back from a total, while
a statistician gets the exact figures from the report API; a replay of every topic gives
identical figures; the canary identity never reaches the reporting store or its exports."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer
from openpyxl import load_workbook
from prometheus_client.parser import text_string_to_metric_families

from chassis.auth import LocalIssuer
from contracts.envelope import KafkaRecord
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.topics import AUDIT_EVENTS, CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from localrun.ports import free_port
from localrun.prometheus import prometheus_process
from localrun.supervisor import Supervisor
from reporting.bootstrap import create_api
from reporting.config import ReportingSettings
from services.reporting.tests.store import Store, open_store
from tests.e2e.test_walking_skeleton import report
from tests.support.system import RunningSystem, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

PROVINCE, COMMUNE = "92", "31135"  # Cần Thơ: no other end-to-end test reports cases there
CANARY = "Canary Lý Thị Chèo Bẻo"
OPEN = {state.value for state in OPEN_STATES}
# The reporting gauges that count children, cases or referrals (not the count of hidden cells).
PERSON_COUNTS = (
    '{__name__=~"lienganh_report_(cases|referrals|referrals_open|referrals_overdue|escalations)"}'
)
AS_OF = "2030-01-01T00:00:00Z"  # judge every clock at one instant, in both stores


@pytest.fixture(scope="module")
def prometheus(system: RunningSystem, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = prometheus_process(
        tmp_path_factory.mktemp("prometheus"), system.ports, port=free_port(), interval="1s"
    )
    supervisor = Supervisor([spec], system.data_dir / "logs")
    supervisor.start()
    try:
        supervisor.wait_ready(timeout_s=60)
        yield spec.public_url or ""
    finally:
        supervisor.stop()


def promql(url: str, query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def read_all(bootstrap: str, topics: list[str]) -> list[KafkaRecord]:
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return [
            KafkaRecord(r.topic, r.key, r.value or b"", [(k, v or b"") for k, v in r.headers])
            for r in consumer
        ]
    finally:
        consumer.close()


def open_referrals_on_the_topic(bootstrap: str) -> dict[tuple[str, str, str], int]:
    """Open referrals by agency, state and province, from the referrals service's events."""
    latest: dict[str, tuple[int, str, str, str]] = {}
    for record in read_all(bootstrap, [REFERRALS_EVENTS]):
        event = json.loads(record.value)
        if "to_state" not in event:
            continue
        known = latest.get(event["referral_id"])
        if known is None or event["version"] > known[0]:
            latest[event["referral_id"]] = (
                event["version"], event["agency"], event["to_state"], event["province_code"]
            )  # fmt: skip
    counts: dict[tuple[str, str, str], int] = {}
    for _, agency, state, province in latest.values():
        if state in OPEN:
            counts[(agency, state, province)] = counts.get((agency, state, province), 0) + 1
    return counts


def scraped(exposition: str) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    found: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


@pytest.fixture(scope="module")
def known_cases(system: RunningSystem) -> list[str]:
    hotline = system.token("hotline-operator-ct-01", "hotline_111", ["intake"], [PROVINCE])
    ids = []
    for n, child in enumerate(["Trần Văn Giả Định", "Nguyễn Thị Mẫu", CANARY]):
        body = report(
            province_code=PROVINCE,
            commune_code=COMMUNE,
            child={"full_name": child, "date_of_birth": f"201{n}-03-0{n + 1}", "sex": "female"},
            summary=f"{child} bị ép làm việc ở quán karaoke",
        )
        created = system.post("cases", "/cases", hotline, body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["case_id"])
    return ids


def test_prometheus_holds_no_small_cell_and_statisticians_get_exact_counts(
    system: RunningSystem, prometheus: str, known_cases: list[str]
):
    police = system.token("police-inspector-ct-01", "police", ["inspector"], [PROVINCE])
    statistician = system.token("statistician-national", "dolisa", ["statistician"], ["*"])
    case_worker = system.token("case-worker-ct-01", "dolisa", ["case_worker"], [PROVINCE])

    def police_inbox() -> list[dict]:
        inbox = system.get("agency-police", "/referrals", police).json()
        mine = [r for r in inbox if r["case_id"] in known_cases]
        assert len(mine) == len(known_cases)  # trafficking: police leads every one
        return mine

    first = eventually(police_inbox)[0]
    accepted = system.post(
        "agency-police", f"/referrals/{first['id']}/accept", police, {"version": first["version"]}
    )
    assert accepted.status_code == 200, accepted.text

    def open_by_agency(token: str) -> dict[str, Any]:
        body = system.get("reporting", "/reports/referrals", token, province=PROVINCE).json()
        open_columns = [c for c, state in enumerate(body["column_labels"]) if state in OPEN]
        return {
            agency: [body["cells"][r][c] for c in open_columns]
            for r, agency in enumerate(body["row_labels"])
        }

    def statisticians_count_exactly() -> None:
        expected: dict[str, int] = {}
        for (agency, _, province), n in open_referrals_on_the_topic(system.bootstrap).items():
            if province == PROVINCE:
                expected[agency] = expected.get(agency, 0) + n
        assert expected.get("police") == len(known_cases)  # 1 accepted + 2 requested: all open
        exact = open_by_agency(statistician)
        assert {agency: sum(cells) for agency, cells in exact.items() if sum(cells)} == expected
        # The province's own case worker gets the same table with the small cells hidden.
        hidden = open_by_agency(case_worker)["police"]
        assert "<5" in hidden and all(isinstance(c, str) or c == 0 for c in hidden)

    eventually(statisticians_count_exactly, timeout_s=120)

    def withheld_in_prometheus() -> None:
        withheld = promql(prometheus, 'lienganh_report_suppressed_cells{report="referrals_open"}')
        assert [float(r["value"][1]) >= 2 for r in withheld] == [True]  # police: 1 and 2
        assert promql(prometheus, f'lienganh_report_referrals_open{{province="{PROVINCE}"}}') == []

    eventually(withheld_in_prometheus, timeout_s=60)
    # Not once in this run did Prometheus store a small person count, from any process.
    assert promql(prometheus, f"min_over_time({PERSON_COUNTS}[1h]) < 5") == []

    # The scrape itself, without a token: no small cell, and no withheld open cell comes back
    # as the referrals total of its (agency, state) minus the open cells shown, even to
    # someone who knows every province with an open referral.
    metrics = scraped(system.get("reporting", "/metrics", None).text)
    person_counts = [
        value
        for name, samples in metrics.items()
        if name.startswith("lienganh_report_") and name != "lienganh_report_suppressed_cells"
        for value in samples.values()
    ]
    assert not [v for v in person_counts if 1 <= v <= 4]
    truth = open_referrals_on_the_topic(system.bootstrap)
    provinces = {province for _, _, province in truth}
    totals, shown = (
        metrics.get("lienganh_report_referrals", {}),
        metrics.get("lienganh_report_referrals_open", {}),
    )
    for agency, state in {(a, s) for a, s, _ in truth}:
        if frozenset({("agency", agency), ("state", state)}) not in totals:
            continue
        unknown = [
            p
            for p in provinces
            if frozenset({("agency", agency), ("state", state), ("province", p)}) not in shown
        ]
        assert len(unknown) != 1 or not truth.get((agency, state, unknown[0])), (agency, state)

    def every_process_up() -> None:
        up = promql(prometheus, 'up{job=~"lienganh-.*"}')
        expected = 2 * len(system.ports.api)
        assert len(up) == expected and all(r["value"][1] == "1" for r in up)
        lag = promql(prometheus, 'lienganh_consumer_lag{service="reporting"}')
        assert {r["metric"]["topic"] for r in lag} >= {CASES_EVENTS, REFERRALS_EVENTS}

    eventually(every_process_up, timeout_s=60)


def test_replaying_every_topic_into_a_fresh_store_gives_identical_figures(
    system: RunningSystem, known_cases: list[str], tmp_path: Path
):
    national = system.token("statistician-national", "dolisa", ["statistician"], ["*"])
    fresh = _fresh_api(tmp_path)
    queries = [
        ("/reports/cases", {"rows": "province", "columns": "case_type"}),
        ("/reports/cases", {"rows": "period", "columns": "channel", "period": "day"}),
        ("/reports/cases", {"rows": "age_band", "columns": "sex"}),
        ("/reports/referrals", {"rows": "agency", "columns": "state"}),
        ("/reports/indicators", {"as_of": AS_OF}),
        ("/summary", {}),
    ]

    def identical() -> None:
        store: Store = fresh.app.state.store  # type: ignore[attr-defined]
        store.feed(read_all(system.bootstrap, [CASES_EVENTS, REFERRALS_EVENTS,
                                               NOTIFICATIONS_EVENTS]))  # fmt: skip
        headers = {"Authorization": f"Bearer {fresh.app.state.token}"}  # type: ignore[attr-defined]
        for path, params in queries:
            running = system.get("reporting", path, national, **params).json()
            replayed = fresh.get(path, params=params, headers=headers).json()
            running.pop("as_of", None), replayed.pop("as_of", None)
            assert running == replayed, path
        counted = system.get("reporting", "/reports/cases", national, province=PROVINCE).json()
        assert counted["total"] >= len(known_cases)

    eventually(identical, timeout_s=120, interval_s=1.0)


def _fresh_api(tmp_path: Path) -> TestClient:
    issuer = LocalIssuer(tmp_path / "keys")
    issuer.public_key_pem()
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    app = create_api(ReportingSettings(data_dir=tmp_path, database_url=url))
    app.state.store = open_store(url, tmp_path)
    app.state.token = issuer.mint("statistician-replay", "dolisa", ["statistician"], ["*"])
    return TestClient(app)


def test_the_canary_never_reaches_the_reporting_store_or_exports(
    system: RunningSystem, known_cases: list[str]
):
    worker = system.token("statistician-ct-01", "dolisa", ["statistician"], [PROVINCE])
    eventually(
        lambda: (
            system.get("reporting", "/reports/cases", worker).json()["total"] >= len(known_cases)
            or (_ for _ in ()).throw(AssertionError("cases not counted yet"))
        )
    )
    needles = [CANARY.encode(), "Chèo Bẻo".encode()]
    exports = []
    for path in ("/reports/cases", "/reports/referrals"):
        for form in ("csv", "xlsx"):
            response = system.get("reporting", path, worker, format=form)
            assert response.status_code == 200
            exports.append(response.content)
            if form == "xlsx":
                sheet = load_workbook(io.BytesIO(response.content)).active
                exports.append(json.dumps(list(sheet.values), default=str).encode())
    stores = [p.read_bytes() for p in system.data_dir.glob("reporting.db*")]
    assert stores, "the reporting store should be a SQLite file under the data dir"
    assert [n for n in needles for blob in exports + stores if n in blob] == []
    metrics = system.get("reporting", "/metrics", None).content
    assert all(n not in metrics for n in needles)

    def exports_audited() -> None:
        audits = [json.loads(r.value) for r in read_all(system.bootstrap, [AUDIT_EVENTS])]
        mine = [a for a in audits if a["actor"] == "statistician-ct-01" and a["action"] == "export"]
        assert {a["resource_id"] for a in mine} == {"cases-province-by-case_type",
                                                    "referrals-agency-by-state"}  # fmt: skip
        assert len(mine) == 4  # one per file: the reporting worker's relay published them
        assert all(a["detail"].split()[1] == "exact" for a in mine)

    eventually(exports_audited)
