"""The process manifest refuses mistakes at load, and expands the same way for every view."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from localrun.manifest import (
    MANIFEST_FILE,
    ContainerAddresses,
    ManifestError,
    load_manifest,
)


@pytest.fixture
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST_FILE.read_text())
    return copy.deepcopy(loaded)


def _load(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "processes.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_manifest(path)


def _service(data: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = next(s for s in data["services"] if s["name"] == name)
    return service


def test_the_shipped_manifest_loads(data: dict[str, Any], tmp_path: Path) -> None:
    _load(tmp_path, data)


MISTAKES = {
    "unknown placeholder": (
        lambda d: _service(d, "reporting").update(env={"REPORTING_X": "{nope}"}),
        "unknown placeholder",
    ),
    "env outside the prefix": (
        lambda d: _service(d, "reporting").update(env={"CASES_X": "1"}),
        "outside its prefix",
    ),
    "missing file": (
        lambda d: _service(d, "cases")["files"].append("cases-keyring-typo"),
        "no file",
    ),
    "host address in a cluster": (
        lambda d: d["env"].update(X={"kubernetes": "{host_api:cases}"}),
        "kubernetes cannot fill",
    ),
    "local mail sink in compose": (
        lambda d: d["env"].update(X={"containers": "{smtp_port}"}),
        "compose cannot fill",
    ),
    "API of a per-agency service": (
        lambda d: d["env"].update(X="{api:agency-police}"),
        "names no (single) service",
    ),
    "API without a service": (lambda d: d["env"].update(X="{api}"), "with a service name"),
    "agency outside agencies": (lambda d: d["env"].update(X="{agency}"), "outside a per_agency"),
    "per-agency name without {agency}": (
        lambda d: _service(d, "agency-{agency}").update(database="agencies"),
        "per_agency names need",
    ),
    "privileged port": (
        lambda d: _service(d, "reporting").update(local_ports={"api": 8004, "worker": 80}),
        "greater than or equal to 1024",
    ),
    "port used twice": (
        lambda d: _service(d, "reporting").update(local_ports={"api": 8001, "worker": 9004}),
        "local ports repeat",
    ),
    "unknown key": (lambda d: _service(d, "cases").update(replicas=2), "Extra inputs"),
    "ConfigMap and Secret": (
        lambda d: d["files"]["cases-keyring"]["kubernetes"].update(config_map="x"),
        "exactly one of",
    ),
    "a process missing": (lambda d: d["processes"].pop("worker"), "exactly"),
}


@pytest.mark.parametrize(("mistake", "message"), MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_fails_at_load_and_names_itself(
    data: dict[str, Any], tmp_path: Path, mistake: Any, message: str
) -> None:
    mistake(data)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, data)


def test_agencies_expand_once_each_with_consecutive_local_ports() -> None:
    topology = load_manifest().topology(("police", "labour_inspection"))
    police, labour = topology.instances[-2:]
    assert (police.name, labour.name) == ("agency-police", "agency-labour_inspection")
    assert labour.k8s_name == "agency-labour-inspection"
    assert labour.local_ports.api == police.local_ports.api + 1
    assert labour.local_ports.worker == police.local_ports.worker + 1
    assert labour.kafka_principal == "agencies:labour_inspection"
    assert labour.consumer_group == "lienganh-agencies-labour_inspection"
    assert labour.database == "agency_labour_inspection"


def test_settings_differ_by_target_only_where_the_manifest_says() -> None:
    manifest = load_manifest()
    topology = manifest.topology(("police",))
    compose = ContainerAddresses(manifest, "compose", "kafka:9092")
    cluster = ContainerAddresses(manifest, "kubernetes", "broker:9093")
    police = topology.instance("agency-police")
    in_compose, in_cluster = topology.env(police, compose), topology.env(police, cluster)
    assert in_compose["AGENCY"] == in_cluster["AGENCY"] == "police"
    assert in_compose["AGENCY_CASES_API_URL"] == "http://cases-api:8000"
    assert in_compose["AGENCY_WORKER_WEB_HOST"] == in_cluster["AGENCY_WORKER_WEB_HOST"]
    assert "AGENCY_LOG_LEVEL" not in in_compose and in_cluster["AGENCY_LOG_LEVEL"] == "INFO"
    notifications = topology.instance("notifications")
    urls = topology.env(notifications, cluster)["NOTIFICATIONS_AGENCY_API_URLS"]
    assert urls == '{"police": "http://agency-police-api:8000"}'
    assert "NOTIFICATIONS_INBOX_URL" not in topology.env(notifications, cluster)
    inbox = topology.env(notifications, compose)["NOTIFICATIONS_INBOX_URL"]
    assert inbox == f"http://127.0.0.1:{notifications.local_ports.api}/inbox"


def test_too_many_agencies_for_the_local_ports_is_refused() -> None:
    agencies = [f"agency{n}" for n in range(20)]  # the 15th would take the mail sink's 8025
    with pytest.raises(ManifestError, match="local ports collide"):
        load_manifest().topology(agencies)
