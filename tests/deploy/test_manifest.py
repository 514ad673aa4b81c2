"""deploy/processes.yaml is the one list of processes: `make run`, docker-compose.yml and the
Kubernetes base run exactly its processes, with the settings it gives each target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from contracts.topics import DEFAULT_AGENCIES, declared_topics
from deploy.k8s.kubegen import kafka
from deploy.k8s.kubegen.apps import in_cluster
from localrun.compose import COMPOSE_FILE
from localrun.manifest import ContainerAddresses, Topology, load_manifest
from localrun.system import Ports, system_processes
from tests.deploy.support import LOCAL_STAND_INS, REPO


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_manifest().topology(DEFAULT_AGENCIES)


def _local_processes(data_dir: Path) -> dict[str, Any]:
    specs = system_processes(
        data_dir=data_dir, bootstrap_servers="127.0.0.1:9092", ports=Ports.fixed(DEFAULT_AGENCIES)
    )
    return {spec.name: spec for spec in specs}


def _compose_processes() -> dict[str, dict[str, Any]]:
    """Compose services that run one of our processes (`python -m <module> …`)."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return {
        name: service
        for name, service in services.items()
        if service.get("command", [""])[0] == "python"
    }


def _k8s_documents(generator: ModuleType) -> list[dict[str, Any]]:
    return [
        doc
        for name, text in generator.render().items()
        if name.startswith("apps/")
        for doc in yaml.safe_load_all(text)
    ]


def test_the_three_views_run_exactly_the_processes_of_the_manifest(
    topology: Topology, generator: ModuleType, tmp_path: Path
) -> None:
    expected = topology.process_names()
    assert len(expected) == 2 * len(topology.instances) == 16

    local = set(_local_processes(tmp_path)) - set(LOCAL_STAND_INS)
    assert sorted(local) == sorted(expected)

    assert sorted(_compose_processes()) == sorted(expected)

    deployments = {
        doc["metadata"]["name"] for doc in _k8s_documents(generator) if doc["kind"] == "Deployment"
    }
    k8s_names = [f"{i.k8s_name}-{p}" for i in topology.instances for p in ("api", "worker")]
    assert sorted(deployments) == sorted(k8s_names)


def test_each_view_runs_the_module_and_settings_the_manifest_gives_it(
    topology: Topology, generator: ModuleType, tmp_path: Path
) -> None:
    local = _local_processes(tmp_path)
    compose = _compose_processes()
    config_maps = {
        doc["metadata"]["name"]: doc["data"]
        for doc in _k8s_documents(generator)
        if doc["kind"] == "ConfigMap"
    }
    in_compose = ContainerAddresses(topology.manifest, "compose", "kafka:9092")
    for instance in topology.instances:
        for process in ("api", "worker"):
            name = f"{instance.name}-{process}"
            assert local[name].argv[1:4] == ["-m", instance.module, process], name
            assert compose[name]["command"][:4] == ["python", "-m", instance.module, process]
            # The manifest's settings, and only the platform's own additions besides.
            added = set(compose[name]["environment"]) - set(topology.env(instance, in_compose))
            assert added == {f"{instance.env_prefix}_DATABASE_URL"}, name
        # In a cluster: the manifest's settings plus the Kafka login (SCRAM user, CA file).
        expected = {
            **topology.env(instance, in_cluster(topology.manifest)),
            **kafka.login_settings(instance),
        }
        assert config_maps[f"{instance.k8s_name}-env"] == expected, instance.name


def test_every_kafka_principal_is_named_by_the_topic_list(topology: Topology) -> None:
    """contracts/topics.py names producers and consumers; a misspelt principal would get a
    KafkaUser with no rights at all."""
    named = {p for t in declared_topics() for p in (t.producer, *t.consumers)}
    for instance in topology.instances:
        assert instance.kafka_principal in named, instance.name


def test_files_given_to_kubernetes_from_the_repository_exist(topology: Topology) -> None:
    for name, file in topology.manifest.files.items():
        if file.kubernetes is not None and file.kubernetes.from_file is not None:
            assert (REPO / file.kubernetes.from_file).is_file(), name


def test_both_generators_check_from_the_command_line() -> None:
    for command in (
        [sys.executable, "deploy/k8s/generate.py", "--check"],
        [sys.executable, "-m", "localrun.compose", "--check"],
    ):
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
