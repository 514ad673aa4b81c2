"""The Kubernetes base of deploy/k8s/, one module per job; `generate.py` is its command line.

- `common`: labels, names and ConfigMaps every module uses;
- `apps`: each service instance of deploy/processes.yaml as settings, Deployments, Services,
  autoscalers and disruption budgets;
- `kafka`: the Strimzi cluster, one KafkaTopic per declared topic, one KafkaUser per instance
  with ACLs from contracts/topics.py, and how a worker logs in;
- `postgres`: one CloudNativePG cluster per instance, and the URL its pods build;
- `network`: the NetworkPolicies;
- `monitoring`: ServiceMonitors, the PrometheusRule and Grafana dashboards;
- `render`: every file of the base, the drift check and the writer.
"""
