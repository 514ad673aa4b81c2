"""The cases API client (interface A) against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from chassis.consumer import RejectedEvent
from referrals.adapters.case_details import CasesApiDetails

CASE_ID = "0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10"


class FakeCasesApi(BaseHTTPRequestHandler):
    """Serves `/cases/{id}/referral-details` the way the cases service does."""

    failures_left = 0
    seen_tokens: list[str] = []
    answer_for: str | None = None  # answer about this case instead (a broken server)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        agency = parse_qs(url.query).get("agency", [""])[0]
        FakeCasesApi.seen_tokens.append(self.headers.get("Authorization", ""))
        if FakeCasesApi.failures_left:
            FakeCasesApi.failures_left -= 1
            return self._reply(503, {"detail": "starting"})
        if url.path != f"/cases/{CASE_ID}/referral-details":
            return self._reply(404, {"detail": "case not found"})
        details = {"sex": "female", "workplace_name": "Xưởng may Hòa Bình"}
        self._reply(
            200,
            {
                "case_id": FakeCasesApi.answer_for or CASE_ID,
                "agency": agency,
                "case_type": "child_labour",
                "details": details,
            },
        )

    def _reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cases_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCasesApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeCasesApi.failures_left = 0
    FakeCasesApi.seen_tokens = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "referrals-service.token"
    path.write_text("service-token-1\n")
    return path


def test_details_are_fetched_with_the_service_token(cases_api: str, token_file: Path):
    client = CasesApiDetails(cases_api, token_file, max_wait_s=0.01)
    details = client(CASE_ID, "labour_inspection")
    assert details == {"sex": "female", "workplace_name": "Xưởng may Hòa Bình"}
    assert FakeCasesApi.seen_tokens == ["Bearer service-token-1"]


def test_a_cases_api_that_is_briefly_down_is_retried(cases_api: str, token_file: Path):
    FakeCasesApi.failures_left = 2
    client = CasesApiDetails(cases_api, token_file, max_wait_s=0.01)
    assert client(CASE_ID, "police")["sex"] == "female"
    assert len(FakeCasesApi.seen_tokens) == 3


def test_a_case_without_details_is_referred_with_facts_only(cases_api: str, token_file: Path):
    client = CasesApiDetails(cases_api, token_file, max_wait_s=0.01)
    assert client("7e6d5c4b-3a29-4817-b6a5-948372615041", "police") == {}
    assert len(FakeCasesApi.seen_tokens) == 1  # a 404 is an answer, not retried


def test_an_answer_about_another_case_is_rejected(cases_api: str, token_file: Path):
    client = CasesApiDetails(cases_api, token_file, max_wait_s=0.01)
    FakeCasesApi.answer_for = "7e6d5c4b-3a29-4817-b6a5-948372615041"
    try:
        with pytest.raises(RejectedEvent, match="another case"):
            client(CASE_ID, "police")
    finally:
        FakeCasesApi.answer_for = None


def test_a_lasting_outage_gives_up_after_the_configured_attempts(cases_api: str, token_file: Path):
    FakeCasesApi.failures_left = 10
    client = CasesApiDetails(cases_api, token_file, attempts=3, max_wait_s=0.01)
    with pytest.raises(Exception, match="503"):
        client(CASE_ID, "police")
    assert len(FakeCasesApi.seen_tokens) == 3
