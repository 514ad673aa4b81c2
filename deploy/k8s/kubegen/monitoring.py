"""Monitoring for prometheus-operator and Grafana's sidecar: ServiceMonitors for every API
and worker, the alert rules of deploy/monitoring/ as a PrometheusRule, one ConfigMap per
dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from localrun.manifest import PROCESSES, Manifest

from .common import PART_OF, REPO, config_map, k8s_name

RULES_DIR = REPO / "deploy" / "monitoring" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO / "deploy" / "monitoring" / "grafana" / "dashboards"


def service_monitors(manifest: Manifest) -> list[dict[str, Any]]:
    """One per process kind, scraping the metrics port of every Service of that kind."""
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": f"lienganh-{component}", "labels": dict(PART_OF)},
            "spec": {
                "selector": {"matchLabels": {**PART_OF, "app.kubernetes.io/component": component}},
                "endpoints": [
                    {
                        "port": manifest.processes[component].port_name,
                        "path": "/metrics",
                        "interval": "30s",
                        # The job and `process` labels the alert rules and dashboards of
                        # deploy/monitoring/ expect (as `make run` and compose have them).
                        "relabelings": [
                            {"targetLabel": "job", "replacement": f"lienganh-{component}"},
                            {
                                "sourceLabels": ["__meta_kubernetes_service_name"],
                                "targetLabel": "process",
                            },
                        ],
                    }
                ],
            },
        }
        for component in PROCESSES
    ]


def prometheus_rule(rules_dir: Path = RULES_DIR) -> dict[str, Any] | None:
    """The alert rules of deploy/monitoring/, as prometheus-operator wants them."""
    groups: list[Any] = []
    for path in sorted(rules_dir.glob("*.yml")) if rules_dir.is_dir() else []:
        groups += (yaml.safe_load(path.read_text()) or {}).get("groups", [])
    if not groups:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "lienganh", "labels": dict(PART_OF)},
        "spec": {"groups": groups},
    }


def dashboard_config_maps(dashboards_dir: Path = DASHBOARDS_DIR) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for the Grafana dashboard sidecar."""
    paths = sorted(dashboards_dir.glob("*.json")) if dashboards_dir.is_dir() else []
    return [
        config_map(
            f"grafana-dashboard-{k8s_name(path.stem)}",
            {path.name: path.read_text()},
            extra_labels={"grafana_dashboard": "1"},
        )
        for path in paths
    ]
