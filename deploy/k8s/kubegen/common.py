"""What every module of the base shares: labels, names, ConfigMaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localrun.manifest import Instance, Process

REPO = Path(__file__).resolve().parents[3]
PART_OF = {"app.kubernetes.io/part-of": "lienganh"}
KAFKA_CLIENT_LABEL = "lienganh.vn/kafka-client"


def k8s_name(text: str) -> str:
    """A DNS-1123 name: Kafka topic names may hold underscores, Kubernetes names may not."""
    return text.replace("_", "-").lower()


def labels(instance: Instance, process: Process) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": instance.k8s_name,
        "app.kubernetes.io/component": process,
    }


def config_map(
    name: str, data: dict[str, str], extra_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {**PART_OF, **(extra_labels or {})}},
        "data": data,
    }
