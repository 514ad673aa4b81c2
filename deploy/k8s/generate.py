"""Render the kustomize base of deploy/k8s/ from the repository's own sources of truth.

    .venv/bin/python deploy/k8s/generate.py          # rewrite deploy/k8s/base/
    .venv/bin/python deploy/k8s/generate.py --check  # exit 1 if the committed base drifted

What it reads, so nothing is typed twice:
- `deploy/processes.yaml` (localrun.manifest): the services, their processes, settings and
  mounted files, agencies once per agency (`contracts.topics.DEFAULT_AGENCIES`);
- `contracts.topics.declared_topics()`: one Strimzi `KafkaTopic` per topic, and each
  instance's `KafkaUser` ACLs from the topics' producer/consumers (ARCHITECTURE.md §4);
- the repository files the manifest puts in ConfigMaps (routing policy, recipients);
- `deploy/monitoring/prometheus/rules/*.yml` and `deploy/monitoring/grafana/dashboards/*.json`:
  one `PrometheusRule` and one ConfigMap per dashboard (both left out while absent).
The work is done by the modules of `kubegen/` (apps, kafka, postgres, network, monitoring,
render). The overlays (`overlays/dev`, `overlays/prod`) are hand-written patches on this base.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repo root

from deploy.k8s.kubegen.render import BASE, drifted, render, write

__all__ = ["BASE", "drifted", "main", "render", "write"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the base has drifted")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        if stale:
            print("deploy/k8s/base drifted; run deploy/k8s/generate.py:", *stale, sep="\n  ")
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
