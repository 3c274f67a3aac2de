"""Write deploy/k8s/base from the code: one folder per service (Deployment, Service, and a
KEDA ScaledObject for each consumer), a KafkaTopic for every topic in shared/events/topics.py,
the Strimzi Kafka, the CloudNativePG cluster and the NetworkPolicies.

The database has two kinds of roles (docs/architecture.md, authorisation): the owner
`governance` (CloudNativePG's `<cluster>-app` secret) migrates, in an initContainer of each
pod (`python -m govctl.migrate <service>`); the services run as `gov_service` and
projections' sink as `gov_projector`, roles CloudNativePG manages from the secrets
`governance-db-service` and `governance-db-projector` (keys username, password and uri),
created out of band like the signing key.

    python -m deploy.k8s.generate          # rewrite deploy/k8s/base
    python -m deploy.k8s.generate --check  # exit 1 if base/ is out of date (CI)

One name everywhere (folder, image, Deployment, Service, `app` label, consumer group), as in
the services' ServiceSpec. Secrets are only referenced: the database URL comes from the
`<cluster>-app` secret CloudNativePG creates; the token signing keys (users' `signing-key`,
services' `service-key`) from `governance-auth`, created out of band (sealed secret,
external secrets operator, or kubectl).
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from govctl.processes import SERVICES
from shared.events.topics import ALL_TOPICS, PARTITIONS

BASE = Path(__file__).parent / "base"
PART_OF = "governance"
KAFKA = "governance-kafka"
BOOTSTRAP = f"{KAFKA}-kafka-bootstrap:9092"
DATABASE = "governance-db"
AUTH_SECRET = "governance-auth"
# Runtime database roles: role -> the secret holding its password and URL.
DB_ROLES = {"gov_service": f"{DATABASE}-service", "gov_projector": f"{DATABASE}-projector"}
HTTP_PORT = 8080
UID = 10001
# Requests from the measured peak memory (bench/results/latest.json, mem_peak_mb_*) with
# headroom; the limit is where a leak is stopped. See docs/capacity.md.
MEMORY = {"intake": "384Mi", "dedup": "512Mi", "dispatch": "384Mi", "supervision": "384Mi",
          "projections": "512Mi", "portal": "256Mi"}
# The portal serves the pages and forwards /api calls to the services: no broker, no database.
GATEWAYS = ("portal",)
LAG_THRESHOLD = "500"  # messages behind per instance before KEDA adds one (capacity.md)


def consumes(service: str) -> tuple[str, ...]:
    spec = getattr(importlib.import_module(f"services.{service}.bootstrap"), "SPEC", None)
    return tuple(spec.consumes) if spec is not None else ()


def upstreams() -> str:
    backends = {s: f"http://{s}" for s in SERVICES if s not in GATEWAYS}
    return json.dumps(backends, separators=(",", ":"))


def labels(service: str) -> dict[str, str]:
    return {"app": service, "app.kubernetes.io/name": service,
            "app.kubernetes.io/part-of": PART_OF}


def deployment(service: str) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "GOV_ENV", "value": "production"}]
    if service in GATEWAYS:
        env.append({"name": "GOV_UPSTREAMS", "value": upstreams()})
    else:
        env += [{"name": "KAFKA_BOOTSTRAP_SERVERS", "value": BOOTSTRAP},
                secret_env("DATABASE_URL", DB_ROLES["gov_service"])]
        if service == "projections":  # the sink writes every area (row-level security)
            env.append(secret_env("GOV_DATABASE_WRITER_URL", DB_ROLES["gov_projector"]))
    env.append({"name": "GOV_AUTH_SECRET",
                "valueFrom": {"secretKeyRef": {"name": AUTH_SECRET, "key": "signing-key"}}})
    # Service-to-service tokens are signed with a key of their own (shared/runtime/auth.py).
    env.append({"name": "GOV_SERVICE_SECRET",
                "valueFrom": {"secretKeyRef": {"name": AUTH_SECRET, "key": "service-key"}}})
    probe = {"httpGet": {"path": "/internal/alive", "port": "http"}, "periodSeconds": 10,
             "timeoutSeconds": 3, "failureThreshold": 3}
    container = {
        "name": service, "image": service, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": "governance-config"}}],
        "env": env,
        "startupProbe": {**probe, "failureThreshold": 30, "periodSeconds": 2},
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/internal/ready", "port": "http"},
                           "periodSeconds": 5},
        "resources": {"requests": {"cpu": "250m", "memory": MEMORY[service]},
                      "limits": {"cpu": "1", "memory": MEMORY[service]}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {
        "serviceAccountName": service,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if service not in GATEWAYS:
        pod["initContainers"] = [migration(service, container)]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": service}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(service),
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(HTTP_PORT),
                                             "prometheus.io/path": "/metrics"}},
                "spec": pod,
            },
        },
    }


def secret_env(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": "uri"}}}


def migration(service: str, container: dict[str, Any]) -> dict[str, Any]:
    """The owner makes the service's schema and grants it, before the service starts as a
    role that owns nothing; idempotent, serialised between pods starting together."""
    keep = ("image", "imagePullPolicy", "envFrom", "resources", "securityContext",
            "volumeMounts")
    return {"name": "migrate", **{k: copy.deepcopy(container[k]) for k in keep},
            "command": ["python", "-m", "govctl.migrate", service],
            "env": [secret_env("GOV_DATABASE_OWNER_URL", f"{DATABASE}-app")]}


REBUILD_TARGET = "projections-next"
REBUILD_WORKERS = 4


def rebuild_job() -> dict[str, Any]:
    """The read model rebuilt from the log beside the live one, by REBUILD_WORKERS
    processes (`rebuild --workers`), as the projector role; applied suspended, run by an
    operator (`kubectl patch job projections-rebuild -p '{"spec":{"suspend":false}}'`),
    then compared (`python -m services.projections compare projections-next`). Its own
    `app` label: the projections Service must not send requests to it."""
    name = "projections-rebuild"
    pod = copy.deepcopy(deployment("projections")["spec"]["template"]["spec"])
    container = pod["containers"][0]
    for key in ("ports", "startupProbe", "livenessProbe", "readinessProbe"):
        del container[key]
    writer = secret_env("DATABASE_URL", DB_ROLES["gov_projector"])
    container.update(
        name=name,
        command=["python", "-m", "services.projections", "rebuild", "--target",
                 REBUILD_TARGET, "--workers", str(REBUILD_WORKERS)],
        env=[{"name": "GOV_ENV", "value": "production"},
             {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": BOOTSTRAP}, writer,
             {**copy.deepcopy(writer), "name": "GOV_DATABASE_WRITER_URL"}],
        resources={"requests": {"cpu": str(REBUILD_WORKERS), "memory": "2Gi"},
                   "limits": {"cpu": str(REBUILD_WORKERS), "memory": "2Gi"}})
    pod["initContainers"][0]["command"][-1] = REBUILD_TARGET  # migrate the new read model
    pod.update(restartPolicy="Never", serviceAccountName="projections")
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {"suspend": True, "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
                 "template": {"metadata": {"labels": labels(name)}, "spec": pod}},
    }


def service_resource(service: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": service, "labels": labels(service)},
            "spec": {"selector": {"app": service},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}]}}


def service_account(service: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": service, "labels": labels(service)},
            "automountServiceAccountToken": False}


def scaled_object(service: str, topics: tuple[str, ...]) -> dict[str, Any]:
    """Scale on consumer lag, up to one instance per partition (more would sit idle)."""
    trigger: dict[str, Any] = {"bootstrapServers": BOOTSTRAP, "consumerGroup": service,
                               "lagThreshold": LAG_THRESHOLD, "offsetResetPolicy": "earliest",
                               "allowIdleConsumers": "false"}
    if len(topics) == 1:
        trigger["topic"] = topics[0]  # else: the lag of every topic the group reads
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {"scaleTargetRef": {"name": service}, "minReplicaCount": 1,
                 "maxReplicaCount": PARTITIONS, "pollingInterval": 15,
                 "cooldownPeriod": 300,
                 "triggers": [{"type": "kafka", "metadata": trigger}]},
    }


def cpu_hpa(service: str) -> dict[str, Any]:
    """A service that consumes nothing (the portal: HTTP only) scales on CPU."""
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": service, "labels": labels(service)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": service},
                 "minReplicas": 1, "maxReplicas": 6,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization",
                                               "averageUtilization": 70}}}]},
    }


def service_folder(service: str) -> dict[str, list[dict[str, Any]]]:
    topics = consumes(service)
    files = {"serviceaccount.yaml": [service_account(service)],
             "deployment.yaml": [deployment(service)],
             "service.yaml": [service_resource(service)]}
    if topics:
        files["scaledobject.yaml"] = [scaled_object(service, topics)]
    else:
        files["hpa.yaml"] = [cpu_hpa(service)]
    if service == "projections":
        files["rebuild-job.yaml"] = [rebuild_job()]
    files["kustomization.yaml"] = [kustomization(sorted(files))]
    return files


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": resources}


def kafka() -> list[dict[str, Any]]:
    cluster = {"strimzi.io/cluster": KAFKA}
    pool = {
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaNodePool",
        "metadata": {"name": "dual-role", "labels": cluster},
        "spec": {"replicas": 1, "roles": ["controller", "broker"],
                 "storage": {"type": "jbod", "volumes": [
                     {"id": 0, "type": "persistent-claim", "size": "20Gi",
                      "deleteClaim": False, "kraftMetadata": "shared"}]},
                 "resources": {"requests": {"cpu": "500m", "memory": "2Gi"},
                               "limits": {"memory": "2Gi"}}},
    }
    broker = {
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
        "metadata": {"name": KAFKA,
                     "annotations": {"strimzi.io/node-pools": "enabled",
                                     "strimzi.io/kraft": "enabled"}},
        "spec": {
            "kafka": {
                "version": "4.3.1",  # the broker the project runs locally
                "listeners": [{"name": "plain", "port": 9092, "type": "internal",
                               "tls": False}],
                "config": {"offsets.topic.replication.factor": 1,
                           "transaction.state.log.replication.factor": 1,
                           "transaction.state.log.min.isr": 1,
                           "default.replication.factor": 1, "min.insync.replicas": 1,
                           "auto.create.topics.enable": False},
            },
            "entityOperator": {"topicOperator": {}},
        },
    }
    return [broker, pool]


def topics() -> list[dict[str, Any]]:
    """Every topic the code names. The case topics are the audit trail: kept forever."""
    return [{
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
        "metadata": {"name": name.replace("_", "-"), "labels": {"strimzi.io/cluster": KAFKA}},
        "spec": {"topicName": name, "partitions": PARTITIONS, "replicas": 1,
                 "config": {"retention.ms": -1, "retention.bytes": -1}},
    } for name in ALL_TOPICS]


def postgres() -> list[dict[str, Any]]:
    return [{
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": DATABASE},
        "spec": {
            "instances": 1,
            "bootstrap": {"initdb": {"database": "governance", "owner": "governance"}},
            "managed": {"roles": [
                {"name": role, "ensure": "present", "login": True, "superuser": False,
                 "createdb": False, "createrole": False, "bypassrls": False,
                 "passwordSecret": {"name": secret}} for role, secret in DB_ROLES.items()]},
            "storage": {"size": "20Gi"},
            "postgresql": {"parameters": {"max_connections": "200",
                                          "shared_buffers": "512MB"}},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                          "limits": {"memory": "1Gi"}},
        },
    }]


def network_policies() -> list[dict[str, Any]]:
    """Deny by default; open only what the design needs."""
    app_pods = {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}
    ns = "kubernetes.io/metadata.name"

    def policy(name: str, selector: dict[str, Any], ingress: list[dict[str, Any]],
               egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"podSelector": selector, "policyTypes": ["Ingress"],
                                "ingress": ingress}
        if egress is not None:
            spec["policyTypes"] = ["Ingress", "Egress"]
            spec["egress"] = egress
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name}, "spec": spec}

    def port(n: int) -> dict[str, Any]:
        return {"protocol": "TCP", "port": n}

    dns = {"to": [{"namespaceSelector": {"matchLabels": {ns: "kube-system"}}}],
           "ports": [{"protocol": "UDP", "port": 53}, port(53)]}
    return [
        policy("default-deny", {}, []),
        policy("services", app_pods,
               [{"from": [{"namespaceSelector": {"matchLabels": {ns: "ingress-nginx"}}},
                          {"namespaceSelector": {"matchLabels": {ns: "monitoring"}}},
                          {"podSelector": {"matchLabels": {"app": "portal"}}}],
                 "ports": [port(HTTP_PORT)]}],
               egress=[{"to": [{"podSelector": app_pods}], "ports": [port(HTTP_PORT)]},
                       {"to": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA}}}],
                        "ports": [port(9092)]},
                       {"to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": DATABASE}}}],
                        "ports": [port(5432)]},
                       dns]),
        policy("kafka-clients", {"matchLabels": {"strimzi.io/cluster": KAFKA}},
               [{"from": [{"podSelector": app_pods},
                          {"podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA}}},
                          {"namespaceSelector": {"matchLabels": {ns: "keda"}}},
                          {"namespaceSelector": {"matchLabels": {ns: "strimzi"}}}]}]),
        policy("postgres-clients", {"matchLabels": {"cnpg.io/cluster": DATABASE}},
               [{"from": [{"podSelector": app_pods},
                          {"podSelector": {"matchLabels": {"cnpg.io/cluster": DATABASE}}},
                          {"namespaceSelector": {"matchLabels": {ns: "cnpg-system"}}}]}]),
    ]


def config() -> list[dict[str, Any]]:
    """Everything that is not a secret."""
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "governance-config"},
             "data": {"GOV_HTTP_HOST": "0.0.0.0", "GOV_HTTP_PORT": str(HTTP_PORT),
                      "GOV_DATA_DIR": "/tmp/gov", "GOV_LOG_JSON": "true",
                      "GOV_LOG_LEVEL": "INFO", "GOV_CLOCK": "system",
                      "GOV_CONSUMER_MAX_RECORDS": "500", "GOV_RELAY_BATCH_SIZE": "500",
                      # The initContainer migrated as the owner: the services create nothing.
                      "GOV_DATABASE_MIGRATED": "true"}}]


def tree() -> dict[str, list[dict[str, Any]]]:
    files: dict[str, list[dict[str, Any]]] = {
        "config.yaml": config(), "network-policies.yaml": network_policies(),
        "kafka/kafka.yaml": kafka(), "kafka/topics.yaml": topics(),
        "kafka/kustomization.yaml": [kustomization(["kafka.yaml", "topics.yaml"])],
        "postgres/cluster.yaml": postgres(),
        "postgres/kustomization.yaml": [kustomization(["cluster.yaml"])],
    }
    for service in SERVICES:
        for name, docs in service_folder(service).items():
            files[f"{service}/{name}"] = docs
    files["kustomization.yaml"] = [{
        **kustomization(["config.yaml", "network-policies.yaml", "kafka", "postgres",
                         *SERVICES]),
        "labels": [{"pairs": {"app.kubernetes.io/part-of": PART_OF}, "includeSelectors": False}],
    }]
    return files


def render(docs: list[dict[str, Any]]) -> str:
    header = "# Generated by `python -m deploy.k8s.generate` from the code; do not edit.\n"
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
                                 for d in docs)


def main(argv: list[str]) -> int:
    stale = []
    for rel, docs in tree().items():
        path = BASE / rel
        text = render(docs)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("deploy/k8s/base is out of date (run python -m deploy.k8s.generate):",
              ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
