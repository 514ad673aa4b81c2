"""NetworkPolicies: our pods are denied by default, then only the flows the design needs."""

from __future__ import annotations

from typing import Any

from localrun.manifest import Topology

from . import kafka
from .common import KAFKA_CLIENT_LABEL, PART_OF


def _peer_pods(labels: dict[str, str]) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": labels}}


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(topology: Topology) -> list[dict[str, Any]]:
    """Default deny for our pods, then only the flows the design needs."""
    api_port = topology.manifest.processes["api"].container_port
    worker_port = topology.manifest.processes["worker"].container_port
    cases = topology.instance("cases").k8s_name
    notifications = topology.instance("notifications").k8s_name

    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": dict(PART_OF)},
            "spec": spec,
        }

    ours = {"podSelector": {"matchLabels": dict(PART_OF)}}
    cases_api = {"app.kubernetes.io/name": cases, "app.kubernetes.io/component": "api"}
    agency_apis = {
        "matchExpressions": [
            {
                "key": "app.kubernetes.io/name",
                "operator": "In",
                "values": [i.k8s_name for i in topology.instances if i.agency is not None],
            }
        ],
        "matchLabels": {"app.kubernetes.io/component": "api"},
    }
    policies = [
        policy("default-deny", {**ours, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "allow-dns",
            {
                **ours,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_namespace("kube-system")],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        policy(
            "allow-api-ingress",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "api"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_namespace("ingress-nginx")], "ports": [{"port": api_port}]}],
            },
        ),
        policy(
            "allow-prometheus-scrape",
            {
                **ours,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_namespace("monitoring")],
                        "ports": [{"port": api_port}, {"port": worker_port}],
                    }
                ],
            },
        ),
        policy(
            "allow-kafka-clients",
            {
                "podSelector": {"matchLabels": {KAFKA_CLIENT_LABEL: "true"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_peer_pods({"strimzi.io/cluster": kafka.CLUSTER})],
                        "ports": [{"port": kafka.LISTENER_PORT}],
                    }
                ],
            },
        ),
        # An agency's API asks the cases API for the key of a referral's sealed view when
        # one of its officers reads the referral.
        policy(
            "allow-agency-apis-to-cases-api",
            {
                "podSelector": agency_apis,
                "policyTypes": ["Egress"],
                "egress": [{"to": [_peer_pods(cases_api)], "ports": [{"port": api_port}]}],
            },
        ),
        policy(
            "allow-cases-api-from-agency-apis",
            {
                "podSelector": {"matchLabels": cases_api},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": agency_apis}], "ports": [{"port": api_port}]}
                ],
            },
        ),
        # The notifications web inbox acts on referrals through the agencies' APIs.
        policy(
            "allow-notifications-to-agency-apis",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": notifications}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_peer_pods({"app.kubernetes.io/component": "api"})],
                        "ports": [{"port": api_port}],
                    }
                ],
            },
        ),
        policy(
            "allow-agency-apis-from-notifications",
            {
                "podSelector": agency_apis,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_peer_pods({"app.kubernetes.io/name": notifications})],
                        "ports": [{"port": api_port}],
                    }
                ],
            },
        ),
        # E-mail, SMS gateway and webhooks live outside the cluster.
        policy(
            "allow-notifications-delivery",
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": notifications,
                        "app.kubernetes.io/component": "worker",
                    }
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                        "ports": [{"port": 443}, {"port": 587}, {"port": 465}, {"port": 25}],
                    }
                ],
            },
        ),
    ]
    for instance in topology.instances:
        db_pods = {"cnpg.io/cluster": f"{instance.k8s_name}-db"}
        own_pods = {"app.kubernetes.io/name": instance.k8s_name}
        policies.append(
            policy(
                f"allow-{instance.k8s_name}-to-its-database",
                {
                    "podSelector": {"matchLabels": own_pods},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [_peer_pods(db_pods)], "ports": [{"port": 5432}]}],
                },
            )
        )
        policies.append(
            policy(
                f"{instance.k8s_name}-database-ingress",
                {
                    "podSelector": {"matchLabels": db_pods},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {"from": [_peer_pods(own_pods)], "ports": [{"port": 5432}]},
                        {"from": [_peer_pods(db_pods)]},  # replication between instances
                        {"from": [_namespace("cnpg-system")], "ports": [{"port": 8000}]},
                        {"from": [_namespace("monitoring")], "ports": [{"port": 9187}]},
                    ],
                },
            )
        )
    return policies
