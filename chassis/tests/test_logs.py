"""Structured logs: JSON lines with the service and event context, identity redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from chassis.logs import (
    HeldLines,
    bind_event_context,
    configure_logging,
    current_correlation_id,
    get_logger,
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_structlog_and_stdlib_both_write_json_lines_with_context(
    capsys: pytest.CaptureFixture[str],
):
    configure_logging("cases", "INFO")
    with bind_event_context("evt-1", "corr-1", "CaseReceived"):
        get_logger("cases.test").info("case recorded", risk_level="high")
        logging.getLogger("cases.stdlib").warning("retrying %s", "publish")
    get_logger("cases.test").info("after")

    first, second, after = _lines(capsys)
    for line in (first, second):
        assert line["service"] == "cases"
        assert line["event_id"] == "evt-1"
        assert line["correlation_id"] == "corr-1"
        assert line["event_type"] == "CaseReceived"
        assert line["timestamp"].endswith(("Z", "+00:00"))
    assert first["event"] == "case recorded"
    assert (first["logger"], second["logger"]) == ("cases.test", "cases.stdlib")
    assert first["level"] == "info"
    assert first["risk_level"] == "high"
    assert second["event"] == "retrying publish"
    assert second["level"] == "warning"
    assert "correlation_id" not in after
    assert after["service"] == "cases"


def test_correlation_id_is_readable_while_bound_and_restored_after():
    assert current_correlation_id() is None
    with bind_event_context("e1", "outer"):
        assert current_correlation_id() == "outer"
        with bind_event_context("e2", "inner"):
            assert current_correlation_id() == "inner"
        assert current_correlation_id() == "outer"
    assert current_correlation_id() is None


def test_identity_fields_are_redacted(capsys: pytest.CaptureFixture[str]):
    configure_logging("cases")
    log = get_logger("cases.test")
    log.info(
        "intake",
        child_name="Nguyễn Văn An",
        full_name="Nguyễn Văn An",
        date_of_birth="2012-03-04",
        guardian_phone="0901234567",
        child={"name": "An", "dob": "2012-03-04", "sex": "male"},
        case_id="c-1",
    )
    logging.getLogger("cases.stdlib").info("stdlib intake", extra={"address": "12 Hàng Bạc"})

    raw = json.dumps(_lines(capsys), ensure_ascii=False)
    for secret in ("Nguyễn", "2012-03-04", "0901234567", "Hàng Bạc", '"An"'):
        assert secret not in raw
    structured, stdlib = json.loads(raw)
    assert structured["child_name"] == "[redacted]"
    assert structured["guardian_phone"] == "[redacted]"
    assert structured["child"] == {"name": "[redacted]", "dob": "[redacted]", "sex": "male"}
    assert structured["case_id"] == "c-1"
    assert stdlib["address"] == "[redacted]"


def test_exceptions_are_logged_as_text_within_the_json_line(
    capsys: pytest.CaptureFixture[str],
):
    configure_logging("referrals")
    try:
        raise RuntimeError("broker down")
    except RuntimeError:
        logging.getLogger("x").exception("publish failed")
    (line,) = _lines(capsys)
    assert line["level"] == "error"
    assert "RuntimeError: broker down" in line["exception"]


def test_configuring_twice_does_not_duplicate_lines(capsys: pytest.CaptureFixture[str]):
    configure_logging("notifications")
    configure_logging("notifications", "DEBUG")
    get_logger("n").debug("once")
    assert [line["event"] for line in _lines(capsys)] == ["once"]


def test_level_filters(capsys: pytest.CaptureFixture[str]):
    configure_logging("reporting", "warning")
    get_logger("r").info("hidden")
    logging.getLogger("r").info("hidden too")
    get_logger("r").warning("shown")
    assert [line["event"] for line in _lines(capsys)] == ["shown"]


def test_a_structlog_line_is_rendered_without_a_stdlib_record(
    capsys: pytest.CaptureFixture[str],
):
    """The cheap path of the lines written for every event and request: structlog renders
    them itself (~19 µs) instead of handing a `LogRecord` to the stdlib (~46 µs), with the
    same fields; `%s` arguments are formatted as the stdlib would."""
    configure_logging("reporting", "INFO")
    records: list[logging.LogRecord] = []
    spy = logging.Handler()
    spy.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(spy)
    try:
        with bind_event_context("evt-9", "corr-9", "ReferralCreated"):
            get_logger("chassis.consumer").info("event applied by %s", "lienganh-reporting")
            logging.getLogger("chassis.consumer").info("event applied by %s", "stdlib")
    finally:
        logging.getLogger().removeHandler(spy)
    native, stdlib = _lines(capsys)
    assert [record.getMessage() for record in records] == ["event applied by stdlib"]
    assert native["event"] == "event applied by lienganh-reporting"
    # (pytest's own log capture leaves `message` on the stdlib's records.)
    assert set(native) == set(stdlib) - {"message"}
    assert {key: native[key] for key in ("logger", "level", "event_id", "service")} == {
        "logger": "chassis.consumer",
        "level": "info",
        "event_id": "evt-9",
        "service": "reporting",
    }


def test_held_lines_are_rendered_in_their_context_and_written_only_when_asked(
    capsys: pytest.CaptureFixture[str],
):
    configure_logging("reporting", "INFO")
    held = HeldLines("chassis.consumer")
    log = held.logger()
    with bind_event_context("evt-1", "corr-1", "CaseReceived"):
        log.info("event applied by %s", "reporting.cases")
    log.debug("below the level")
    log.info("second")
    assert _lines(capsys) == []  # nothing written yet

    held.write()
    first, second = _lines(capsys)
    assert (first["event"], first["logger"], first["service"]) == (
        "event applied by reporting.cases",
        "chassis.consumer",
        "reporting",
    )
    assert (first["event_id"], first["correlation_id"]) == ("evt-1", "corr-1")
    assert "event_id" not in second
    held.write()
    assert _lines(capsys) == []  # each line once
