"""Each service instance of deploy/processes.yaml as Kubernetes runs it: a settings ConfigMap,
and per process (API, worker) a Deployment, a Service, an autoscaler and a disruption budget."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from localrun.manifest import PROCESSES, ContainerAddresses, Instance, Manifest, Process, Topology

from . import kafka, postgres
from .common import KAFKA_CLIENT_LABEL, PART_OF, REPO, config_map, labels

IMAGE = "lienganh"  # overlays pin name and tag with kustomize `images:`
UID = 10001  # the Dockerfile's user
MAX_API_REPLICAS = 6


def in_cluster(manifest: Manifest) -> ContainerAddresses:
    return ContainerAddresses(manifest, "kubernetes", kafka.BOOTSTRAP)


def settings(topology: Topology, instance: Instance) -> dict[str, str]:
    """Plain settings (the ConfigMap `<name>-env`): the manifest's, then the Kafka login."""
    return {
        **topology.env(instance, in_cluster(topology.manifest)),
        **kafka.login_settings(instance),
    }


def file_config_maps(manifest: Manifest) -> list[dict[str, Any]]:
    """The ConfigMaps filled from repository files (`from` in the manifest)."""
    return [
        config_map(source.source_name, {source.key: (REPO / source.from_file).read_text()})
        for file in manifest.files.values()
        if (source := file.kubernetes) is not None and source.from_file is not None
    ]


def _probe(path: str, port: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _volumes(
    topology: Topology, instance: Instance, process: Process
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [
        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "data", "mountPath": topology.manifest.containers.data_dir},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, the root FS is read-only
    ]
    for _, file in topology.files(instance):
        source = file.kubernetes
        if source is None:
            continue
        volume: dict[str, Any] = (
            {"secret": {"secretName": source.secret, "defaultMode": 0o440}}
            if source.secret is not None
            else {"configMap": {"name": source.config_map}}
        )
        volumes.append({"name": source.source_name, **volume})
        mounts.append({"name": source.source_name, "mountPath": source.dir, "readOnly": True})
    ca_volumes, ca_mounts = kafka.ca_volume(process)
    return volumes + ca_volumes, mounts + ca_mounts


def deployment(
    topology: Topology, instance: Instance, process: Process, config_hash: str
) -> dict[str, Any]:
    spec = topology.manifest.processes[process]
    command = ["python", "-m", instance.module, process]
    if process == "api":
        command += ["--host", "0.0.0.0", "--port", str(spec.container_port)]  # noqa: S104
    own_labels = labels(instance, process)
    pod_labels = {**PART_OF, **own_labels}
    if process == "worker":
        pod_labels[KAFKA_CLIENT_LABEL] = "true"  # only workers talk to Kafka (outbox relay)
    volumes, mounts = _volumes(topology, instance, process)
    container = {
        "name": process,
        "image": IMAGE,
        "command": command,
        "ports": [
            {"name": spec.port_name, "containerPort": spec.container_port, "protocol": "TCP"}
        ],
        "envFrom": [{"configMapRef": {"name": f"{instance.k8s_name}-env"}}],
        "env": postgres.database_env(instance) + kafka.password_env(instance, process),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "startupProbe": _probe(spec.live, spec.port_name, 5, 24),
        "readinessProbe": _probe(spec.ready, spec.port_name, 10, 3),
        "livenessProbe": _probe(spec.live, spec.port_name, 20, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    name = f"{instance.k8s_name}-{process}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {**PART_OF, **own_labels}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": own_labels},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    # Changes of the ConfigMaps below roll the pods.
                    "annotations": {"lienganh.vn/config-hash": config_hash},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def k8s_service(manifest: Manifest, instance: Instance, process: Process) -> dict[str, Any]:
    spec = manifest.processes[process]
    own_labels = labels(instance, process)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{instance.k8s_name}-{process}",
            "labels": {**PART_OF, **own_labels},
        },
        "spec": {
            "selector": own_labels,
            "ports": [
                {"name": spec.port_name, "port": spec.container_port, "targetPort": spec.port_name}
            ],
        },
    }


def autoscaler(instance: Instance, process: Process, max_replicas: int) -> dict[str, Any]:
    name = f"{instance.k8s_name}-{process}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": {**PART_OF, **labels(instance, process)}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def disruption_budget(instance: Instance, process: Process) -> dict[str, Any]:
    own_labels = labels(instance, process)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": f"{instance.k8s_name}-{process}",
            "labels": {**PART_OF, **own_labels},
        },
        # maxUnavailable (not minAvailable) so a one-replica dev namespace can still drain.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": own_labels}},
    }


def _hash(documents: Iterable[dict[str, Any]]) -> str:
    text = json.dumps(list(documents), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def documents(
    topology: Topology, instance: Instance, max_worker_replicas: int
) -> list[dict[str, Any]]:
    """Everything one instance runs as: its settings, two Deployments, Services, HPAs, PDBs.
    More worker replicas than partitions would sit idle in the consumer group."""
    own_settings = config_map(f"{instance.k8s_name}-env", settings(topology, instance))
    read = {f.kubernetes.source_name for _, f in topology.files(instance) if f.kubernetes}
    mounted = [
        doc for doc in file_config_maps(topology.manifest) if doc["metadata"]["name"] in read
    ]
    config_hash = _hash([own_settings, *mounted])
    result = [own_settings]
    max_replicas = {"api": MAX_API_REPLICAS, "worker": max_worker_replicas}
    for process in PROCESSES:
        result += [
            deployment(topology, instance, process, config_hash),
            k8s_service(topology.manifest, instance, process),
            autoscaler(instance, process, max_replicas[process]),
            disruption_budget(instance, process),
        ]
    return result
