"""The shipped Prometheus configuration, alert rules and Grafana dashboards are valid,
tested, and speak only of documented metrics."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from contracts.topics import DEFAULT_AGENCIES
from localrun.prometheus import MONITORING_DIR, binary, prometheus_process, render, scrape_config
from localrun.system import Ports

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = MONITORING_DIR / "prometheus"
GRAFANA = MONITORING_DIR / "grafana"
METRIC = re.compile(r"\b(lienganh_[a-z0-9_]+|up)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def promtool() -> Path:
    return binary("promtool")  # installs Debian's prometheus package when missing


def run(*argv: object) -> str:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def documented_metrics() -> set[str]:
    return set(re.findall(r"`(lienganh_[a-z0-9_]+|up)`", (ROOT / "docs/metrics.md").read_text()))


def metric_names(expr: str) -> set[str]:
    names = set()
    for name in METRIC.findall(expr):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in documented_metrics():
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_prometheus_config_is_valid(promtool: Path):
    assert "SUCCESS" in run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")


def test_rules_are_valid(promtool: Path):
    assert "SUCCESS: 6 rules found" in run(
        promtool, "check", "rules", *sorted((PROMETHEUS / "rules").glob("*.yml"))
    )


def test_rule_unit_tests_pass(promtool: Path):
    assert "SUCCESS" in run(
        promtool, "test", "rules", *sorted((PROMETHEUS / "tests").glob("*.yml"))
    )


def test_promtool_tests_catch_a_broken_rule(promtool: Path, tmp_path: Path):
    (tmp_path / "rules").mkdir()
    broken = (PROMETHEUS / "rules/lienganh.rules.yml").read_text().replace("> 60", "> 600")
    (tmp_path / "rules/lienganh.rules.yml").write_text(broken)
    (tmp_path / "tests").mkdir()
    tests = PROMETHEUS / "tests/lienganh.test.yml"
    (tmp_path / "tests/lienganh.test.yml").write_text(tests.read_text())
    result = subprocess.run(
        [str(promtool), "test", "rules", str(tmp_path / "tests/lienganh.test.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "LienganhOutboxStale" in result.stdout + result.stderr


def alerts() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS / "rules/lienganh.rules.yml").read_text())
    return {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    suite = yaml.safe_load((PROMETHEUS / "tests/lienganh.test.yml").read_text())
    cases = [case for test in suite["tests"] for case in test["alert_rule_test"]]
    for alert in alerts():
        expectations = [case["exp_alerts"] for case in cases if case["alertname"] == alert]
        assert any(expectations), f"{alert}: no test where it fires"
        assert any(e == [] for e in expectations), f"{alert}: no test where it stays quiet"


def test_the_alerts_the_issue_asks_for_exist():
    expressions = " ".join(alerts().values())
    for metric in ("up", "lienganh_consumer_lag", "lienganh_dead_letters_total",
                   "lienganh_outbox_oldest_age_seconds", "lienganh_referral_escalations_total",
                   'lienganh_notification_deliveries_total{outcome="failed"}'):  # fmt: skip
        assert metric in expressions


def test_committed_config_scrapes_every_process_of_make_run():
    expected = render(scrape_config(Ports.fixed(DEFAULT_AGENCIES), ["rules/*.rules.yml"]))
    assert (PROMETHEUS / "prometheus.yml").read_text() == expected
    config = yaml.safe_load(expected)
    targets = {
        target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    ports = [*range(8001, 8005), *range(8011, 8015), *range(9001, 9005), *range(9011, 9015)]
    assert targets == {f"127.0.0.1:{port}" for port in ports}


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}


def test_dashboards_parse_and_cover_the_three_views():
    titles = {d["title"] for d in dashboards().values()}
    assert titles == {
        "Liên Ngành — pipeline health",
        "Liên Ngành — referral deadlines by agency and province",
        "Liên Ngành — notification delivery",
    }
    assert len({d["uid"] for d in dashboards().values()}) == 3


def test_every_expression_names_only_documented_metrics():
    documented = documented_metrics()
    used: set[str] = set()
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            assert panel["targets"], f"{name}: panel {panel['title']} has no query"
            for target in panel["targets"]:
                found = metric_names(target["expr"])
                assert found, f"{name}: {target['expr']} names no metric"
                assert found <= documented, f"{name}: undocumented {found - documented}"
                used |= found
    for expr in alerts().values():
        assert metric_names(expr) <= documented
    # The business gauges and the consumer lag are on a dashboard.
    assert {"lienganh_report_referrals_open", "lienganh_report_referrals_overdue",
            "lienganh_consumer_lag"} <= used  # fmt: skip


def test_every_shared_and_reporting_metric_is_documented():
    sources = [ROOT / "chassis/src/chassis/metrics.py",
               ROOT / "services/reporting/src/reporting/gauges.py"]  # fmt: skip
    defined = {m for s in sources for m in re.findall(r'"(lienganh_[a-z0-9_]+)"', s.read_text())}
    assert defined and defined <= documented_metrics()


def test_grafana_provisioning_points_at_the_dashboards_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in datasource["datasources"]}
    for dashboard in dashboards().values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in uids
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/lienganh.yml").read_text())
    assert providers["providers"][0]["type"] == "file"


def test_the_local_prometheus_process_gets_a_valid_config_for_its_ports(
    promtool: Path, tmp_path: Path
):
    ports = Ports(api={"cases": 18001}, worker={"cases": 19001})
    spec = prometheus_process(tmp_path, ports, port=19090, interval="1s")
    config_file = tmp_path / "prometheus" / "prometheus.yml"
    assert f"--config.file={config_file}" in spec.argv
    assert spec.ready_url == "http://127.0.0.1:19090/-/ready"
    assert "SUCCESS: 1 rule files found" in run(promtool, "check", "config", config_file)
    config = yaml.safe_load(config_file.read_text())
    assert config["global"]["scrape_interval"] == "1s"
    assert [job["static_configs"][0]["targets"] for job in config["scrape_configs"]] == [
        ["127.0.0.1:18001"], ["127.0.0.1:19001"]
    ]  # fmt: skip
