"""PostgreSQL on CloudNativePG: one cluster per service instance, and its pods' URL."""

from __future__ import annotations

from typing import Any

from localrun.manifest import Instance

from .common import PART_OF

IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.6"


def database_cluster(instance: Instance) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": f"{instance.k8s_name}-db", "labels": dict(PART_OF)},
        "spec": {
            "instances": 1,
            "imageName": IMAGE,
            "primaryUpdateStrategy": "unsupervised",
            # Role and database share the instance's SQL-safe name (agency_labour_inspection).
            "bootstrap": {"initdb": {"database": instance.database, "owner": instance.database}},
            "storage": {"size": "5Gi"},
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"memory": "1Gi"},
            },
        },
    }


def database_env(instance: Instance) -> list[dict[str, Any]]:
    """CloudNativePG writes `<cluster>-app` with username and password; the URL needs the
    psycopg driver name, so it is assembled here ($(VAR) refers to the entries above it)."""
    secret = f"{instance.k8s_name}-db-app"
    return [
        {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}},
        },
        {
            "name": f"{instance.env_prefix}_DATABASE_URL",
            "value": f"postgresql+psycopg://$(DB_USER):$(DB_PASSWORD)@{instance.k8s_name}-db-rw:"
            f"5432/{instance.database}",
        },
    ]
