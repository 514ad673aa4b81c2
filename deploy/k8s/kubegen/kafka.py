"""Kafka on Strimzi: the cluster, one KafkaTopic per declared topic, one KafkaUser per service
instance with the ACLs contracts/topics.py implies, and how a worker logs in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from contracts.topics import TopicSpec
from localrun.kafka import kafka_metadata_version, kafka_version
from localrun.manifest import Instance, Process, Topology

from .common import KAFKA_CLIENT_LABEL, PART_OF, k8s_name

CLUSTER = "lienganh"
LISTENER_PORT = 9093  # the only listener: SCRAM over TLS
BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap:{LISTENER_PORT}"
# The pom's `kafka.version` (deploy/local/kafka/pom.xml), the one the local broker and
# compose run too, and the metadata version that release writes by default.
VERSION = kafka_version()
METADATA_VERSION = kafka_metadata_version()
# The Strimzi release this base is written for (`kafka.strimzi.io/v1`), and the Kafka
# versions it runs, exactly: Strimzi accepts only the patch versions it ships images for.
# From Strimzi's CHANGELOG: 1.1.0 added 4.2.1 and 4.3.0 and removed 4.1.x; 1.2.0 added
# 4.3.1. `cluster()` refuses any other, so a pom bump the operator cannot run fails here,
# not in the cluster ("Unsupported Kafka.spec.kafka.version").
STRIMZI_VERSIONS = "1.2"
STRIMZI_KAFKA_VERSIONS = ("4.2.0", "4.2.1", "4.3.0", "4.3.1")
CA_SECRET = f"{CLUSTER}-cluster-ca-cert"  # written by Strimzi's cluster operator
CA_DIR = "/etc/lienganh/kafka-ca"


def cluster() -> list[dict[str, Any]]:
    """One KRaft cluster; the base has one dual-role node, the prod overlay three."""
    if VERSION not in STRIMZI_KAFKA_VERSIONS:
        raise ValueError(
            f"Kafka {VERSION} (deploy/local/kafka/pom.xml) is not one Strimzi "
            f"{STRIMZI_VERSIONS} runs: {', '.join(STRIMZI_KAFKA_VERSIONS)}"
        )
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {
            "name": CLUSTER,
            "labels": dict(PART_OF),
            "annotations": {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"},
        },
        "spec": {
            "kafka": {
                "version": VERSION,
                "metadataVersion": METADATA_VERSION,
                "listeners": [
                    {
                        "name": "scram",
                        "port": LISTENER_PORT,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "scram-sha-512"},
                        # Strimzi turns this into the brokers' NetworkPolicy.
                        "networkPolicyPeers": [
                            {"podSelector": {"matchLabels": {KAFKA_CLIENT_LABEL: "true"}}}
                        ],
                    }
                ],
                "authorization": {"type": "simple"},
                "config": {
                    "auto.create.topics.enable": False,
                    "default.replication.factor": 1,
                    "min.insync.replicas": 1,
                    "offsets.topic.replication.factor": 1,
                    "transaction.state.log.replication.factor": 1,
                    "transaction.state.log.min.isr": 1,
                    "share.coordinator.state.topic.replication.factor": 1,
                    "share.coordinator.state.topic.min.isr": 1,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    node_pool = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaNodePool",
        "metadata": {
            "name": "dual-role",
            "labels": {**PART_OF, "strimzi.io/cluster": CLUSTER},
        },
        "spec": {
            "replicas": 1,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "20Gi",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {
                "requests": {"cpu": "500m", "memory": "2Gi"},
                "limits": {"memory": "2Gi"},
            },
        },
    }
    return [kafka, node_pool]


def topics(declared: Iterable[TopicSpec]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {
                "name": k8s_name(topic.name),
                "labels": {**PART_OF, "strimzi.io/cluster": CLUSTER},
            },
            "spec": {
                "topicName": topic.name,
                "partitions": topic.partitions,
                "replicas": 1,
                "config": topic.configs(),
            },
        }
        for topic in declared
    ]


def acl_topics(principal: str, declared: Sequence[TopicSpec]) -> tuple[list[str], list[str]]:
    """(read, write) topic names of a principal, exactly as the topic list declares them.

    A consumer also writes the dead-letter topic of what it reads; `*` producers (the audit
    trail) are written by every service.
    """
    read = sorted(topic.name for topic in declared if principal in topic.consumers)
    dead_letters = {f"{name}.dlq" for name in read}
    write = sorted(
        topic.name
        for topic in declared
        if topic.producer in (principal, "*") or topic.name in dead_letters
    )
    return read, write


def user(instance: Instance, declared: Sequence[TopicSpec], topology: Topology) -> dict[str, Any]:
    """The instance's KafkaUser (named as the instance), its ACLs from the topic list."""
    read, write = acl_topics(instance.kafka_principal, declared)

    def topic_acl(name: str, operations: list[str]) -> dict[str, Any]:
        return {
            "resource": {"type": "topic", "name": name, "patternType": "literal"},
            "operations": operations,
        }

    acls = [topic_acl(name, ["Read", "Describe"]) for name in read]
    acls += [topic_acl(name, ["Write", "Describe"]) for name in write]
    if read:
        group = {"type": "group", "name": instance.consumer_group, "patternType": "literal"}
        acls.append({"resource": group, "operations": ["Read", "Describe"]})
    if instance.service.paces_bulk:
        acls += pacing_acls(declared, topology)
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": instance.k8s_name,
            "labels": {**PART_OF, "strimzi.io/cluster": CLUSTER},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def pacing_acls(declared: Sequence[TopicSpec], topology: Topology) -> list[dict[str, Any]]:
    """What the bulk lane's relay reads (chassis.pacing): the committed offsets of the groups
    on an urgent case's path, the end offsets of the topics they read. Describe only: not
    one record, and nothing of the groups off that path."""
    path = [i for i in topology.instances if i.service.urgent_path]
    groups = sorted({i.consumer_group for i in path})
    topics = sorted({name for i in path for name in acl_topics(i.kafka_principal, declared)[0]})
    return [
        {
            "resource": {"type": kind, "name": name, "patternType": "literal"},
            "operations": ["Describe"],
        }
        for kind, names in (("group", groups), ("topic", topics))
        for name in names
    ]


# --- how a worker logs in ---------------------------------------------------------------------


def login_settings(instance: Instance) -> dict[str, str]:
    """Each instance is its own Kafka user (its KafkaUser); SCRAM over TLS."""
    prefix = instance.env_prefix
    return {
        f"{prefix}_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        f"{prefix}_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        f"{prefix}_KAFKA_SASL_USERNAME": instance.k8s_name,
        f"{prefix}_KAFKA_SSL_CAFILE": f"{CA_DIR}/ca.crt",
    }


def password_env(instance: Instance, process: Process) -> list[dict[str, Any]]:
    """The worker's SCRAM password, from the Secret Strimzi's user operator writes; only
    workers talk to Kafka (the outbox relay runs there)."""
    if process != "worker":
        return []
    secret = {"name": instance.k8s_name, "key": "password"}
    return [
        {
            "name": f"{instance.env_prefix}_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": secret},
        }
    ]


def ca_volume(process: Process) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) of the cluster CA's certificate, for workers."""
    if process != "worker":
        return [], []
    volume = {"name": "kafka-ca", "secret": {"secretName": CA_SECRET}}
    return [volume], [{"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}]
