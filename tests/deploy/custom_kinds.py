"""Required-field checks for the operators' custom kinds (kubernetes-validate has no schemas
for them): Strimzi `kafka.strimzi.io/v1`, CloudNativePG `postgresql.cnpg.io/v1`,
prometheus-operator `monitoring.coreos.com/v1`. Each check names what is missing or wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Document = dict[str, Any]
_MISSING = object()

ACL_RESOURCE_TYPES = {"topic", "group", "cluster", "transactionalId"}
ACL_OPERATIONS = {
    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
    "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All",
}  # fmt: skip
LISTENER_TYPES = {"internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"}


def _get(document: Document, path: str, default: Any = None) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _require(document: Document, *paths: str) -> list[str]:
    return [f"missing {path}" for path in paths if _get(document, path) in (None, "")]


def _cluster_label(document: Document) -> list[str]:
    if not (_get(document, "metadata.labels") or {}).get("strimzi.io/cluster"):
        return ["missing metadata.labels.strimzi.io/cluster (the operator ignores it)"]
    return []


def _kafka(document: Document) -> list[str]:
    problems = _require(document, "spec.kafka.listeners", "spec.kafka.version")
    for listener in _get(document, "spec.kafka.listeners") or []:
        problems += [f"listener missing {key}" for key in ("name", "port", "type", "tls")
                     if key not in listener]  # fmt: skip
        if listener.get("type") not in LISTENER_TYPES:
            problems.append(f"listener type {listener.get('type')!r}")
    if _get(document, "spec.kafka.replicas", _MISSING) is not _MISSING:
        problems.append("spec.kafka.replicas is gone in v1: replicas belong to KafkaNodePools")
    return problems


def _node_pool(document: Document) -> list[str]:
    problems = _cluster_label(document) + _require(
        document, "spec.replicas", "spec.roles", "spec.storage.type"
    )
    roles = set(_get(document, "spec.roles") or [])
    if not roles or not roles <= {"controller", "broker"}:
        problems.append(f"roles {sorted(roles)}")
    return problems


def _topic(document: Document) -> list[str]:
    problems = _cluster_label(document) + _require(
        document, "spec.topicName", "spec.partitions", "spec.replicas"
    )
    for key in ("spec.partitions", "spec.replicas"):
        value = _get(document, key)
        if value is not None and not (isinstance(value, int) and value >= 1):
            problems.append(f"{key} must be a positive integer, not {value!r}")
    return problems


def _user(document: Document) -> list[str]:
    problems = _cluster_label(document) + _require(
        document, "spec.authentication.type", "spec.authorization.type"
    )
    if _get(document, "spec.authentication.type") not in ("tls", "tls-external", "scram-sha-512"):
        problems.append("authentication type")
    for acl in _get(document, "spec.authorization.acls") or []:
        resource = acl.get("resource", {})
        if resource.get("type") not in ACL_RESOURCE_TYPES:
            problems.append(f"acl resource type {resource.get('type')!r}")
        if resource.get("type") != "cluster" and not resource.get("name"):
            problems.append("acl resource without a name")
        if "operation" in acl:
            problems.append("acl `operation` was removed in v1: use `operations`")
        operations = set(acl.get("operations") or [])
        if not operations or not operations <= ACL_OPERATIONS:
            problems.append(f"acl operations {sorted(operations)}")
    return problems


def _postgres_cluster(document: Document) -> list[str]:
    problems = _require(document, "spec.instances", "spec.storage.size", "spec.imageName")
    image = _get(document, "spec.imageName")
    if isinstance(image, str) and (
        ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    ):
        problems.append(f"image {image} is not pinned")
    return problems


def _service_monitor(document: Document) -> list[str]:
    problems = _require(document, "spec.selector", "spec.endpoints")
    for endpoint in _get(document, "spec.endpoints") or []:
        if not (endpoint.get("port") or endpoint.get("targetPort")):
            problems.append("endpoint without port")
    return problems


def _prometheus_rule(document: Document) -> list[str]:
    problems = _require(document, "spec.groups")
    for group in _get(document, "spec.groups") or []:
        if not group.get("name"):
            problems.append("rule group without name")
        for rule in group.get("rules") or []:
            if not rule.get("expr") or not (rule.get("alert") or rule.get("record")):
                problems.append(f"rule in {group.get('name')} needs expr and alert|record")
    return problems


CUSTOM_KINDS: dict[str, tuple[str, Callable[[Document], list[str]]]] = {
    "Kafka": ("kafka.strimzi.io/v1", _kafka),
    "KafkaNodePool": ("kafka.strimzi.io/v1", _node_pool),
    "KafkaTopic": ("kafka.strimzi.io/v1", _topic),
    "KafkaUser": ("kafka.strimzi.io/v1", _user),
    "Cluster": ("postgresql.cnpg.io/v1", _postgres_cluster),
    "ServiceMonitor": ("monitoring.coreos.com/v1", _service_monitor),
    "PrometheusRule": ("monitoring.coreos.com/v1", _prometheus_rule),
}


def missing_fields(document: Document) -> list[str]:
    """What keeps `document` from being accepted by its operator's CRD (empty when fine)."""
    api_version, check = CUSTOM_KINDS[document["kind"]]
    problems = _require(document, "metadata.name", "spec")
    if document.get("apiVersion") != api_version:
        problems.append(f"apiVersion {document.get('apiVersion')}, expected {api_version}")
    return problems + check(document)
