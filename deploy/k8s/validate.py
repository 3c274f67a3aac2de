"""Validate the Kubernetes manifests offline (`make validate-k8s`, run by CI).

1. deploy/k8s/base is what `python -m deploy.k8s.generate` writes from the code.
2. base and both overlays render with kustomize (`kubectl kustomize`, or kustomize built
   from the Go module proxy when kubectl is missing).
3. Every built-in resource validates against the Kubernetes OpenAPI schemas bundled in the
   PyPI package `kubernetes-validate`, strictly (unknown fields are errors).
4. The operator resources (Strimzi Kafka/KafkaNodePool/KafkaTopic, CloudNativePG Cluster,
   KEDA ScaledObject) are checked structurally against the subset of their CRD schemas we
   use (below, written from the operators' CRD references): their CRD schemas are not
   published in a package registry this machine reaches, so this is not the full CRD check.
5. Project rules: one name everywhere, probes, resources, non-root read-only containers that
   drop every capability, secrets only by reference, a KafkaTopic for every topic in the code,
   a lag-based ScaledObject for every consumer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from deploy.k8s import generate
from govctl.processes import SERVICES
from shared.events.topics import ALL_TOPICS

K8S = Path(__file__).parent
TARGETS = ("base", "overlays/dev", "overlays/prod")
KUBERNETES_VERSION = "1.33.0"
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0"

_STR = {"type": "string", "minLength": 1}
_INT = {"type": "integer", "minimum": 0}
_META = {"type": "object", "required": ["name"], "properties": {"name": _STR}}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def _crd(spec: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {"metadata": _META,
                           "spec": {"type": "object", "required": required,
                                    "additionalProperties": False, "properties": spec}}}


CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("kafka.strimzi.io/v1beta2", "Kafka"): _crd({
        "kafka": {"type": "object", "required": ["listeners"], "additionalProperties": False,
                  "properties": {"version": _STR, "metadataVersion": _STR,
                                 "listeners": {"type": "array", "minItems": 1, "items": {
                                     "type": "object", "required": ["name", "port", "type",
                                                                    "tls"],
                                     "properties": {"name": {"type": "string",
                                                             "pattern": "^[a-z0-9]{1,11}$"},
                                                    "port": {"type": "integer",
                                                             "minimum": 9092},
                                                    "type": {"enum": ["internal", "route",
                                                                      "loadbalancer",
                                                                      "nodeport", "ingress",
                                                                      "cluster-ip"]},
                                                    "tls": {"type": "boolean"}}}},
                                 "config": {"type": "object"}}},
        "entityOperator": {"type": "object"}, "cruiseControl": {"type": "object"},
    }, ["kafka"]),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): _crd({
        "replicas": _INT, "roles": {"type": "array", "minItems": 1,
                                    "items": {"enum": ["controller", "broker"]}},
        "storage": {"type": "object", "required": ["type"],
                    "properties": {"type": {"enum": ["ephemeral", "persistent-claim",
                                                     "jbod"]},
                                   "volumes": {"type": "array", "items": {
                                       "type": "object", "required": ["id", "type"],
                                       "properties": {"id": _INT, "size": _STR,
                                                      "deleteClaim": {"type": "boolean"},
                                                      "kraftMetadata": {"enum": ["shared"]},
                                                      "type": {"enum": ["ephemeral",
                                                                        "persistent-claim"]}}}}}},
        "resources": {"type": "object"},
    }, ["replicas", "roles", "storage"]),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _crd({
        "topicName": _STR, "partitions": {"type": "integer", "minimum": 1},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
        "config": {"type": "object"},
    }, ["partitions", "replicas"]),
    ("postgresql.cnpg.io/v1", "Cluster"): _crd({
        "instances": {"type": "integer", "minimum": 1}, "imageName": _STR,
        "bootstrap": {"type": "object", "properties": {"initdb": {
            "type": "object", "properties": {"database": _STR, "owner": _STR}}}},
        "storage": {"type": "object", "required": ["size"], "properties": {"size": _STR}},
        "postgresql": {"type": "object", "properties": {"parameters": _STRING_MAP}},
        "resources": {"type": "object"}, "monitoring": {"type": "object"},
        "managed": {"type": "object", "additionalProperties": False, "properties": {
            "roles": {"type": "array", "items": {
                "type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {"name": _STR, "ensure": {"enum": ["present", "absent"]},
                               "login": {"type": "boolean"}, "superuser": {"type": "boolean"},
                               "createdb": {"type": "boolean"},
                               "createrole": {"type": "boolean"},
                               "bypassrls": {"type": "boolean"},
                               "passwordSecret": {"type": "object", "required": ["name"],
                                                  "properties": {"name": _STR}}}}}}},
    }, ["instances", "storage"]),
    ("keda.sh/v1alpha1", "ScaledObject"): _crd({
        "scaleTargetRef": {"type": "object", "required": ["name"],
                           "properties": {"name": _STR}},
        "minReplicaCount": _INT, "maxReplicaCount": _INT, "pollingInterval": _INT,
        "cooldownPeriod": _INT,
        "triggers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["type", "metadata"],
            "properties": {"type": {"enum": ["kafka"]},
                           "metadata": {"type": "object",
                                        "required": ["bootstrapServers", "consumerGroup",
                                                     "lagThreshold"],
                                        "additionalProperties": {"type": "string"}}}}},
    }, ["scaleTargetRef", "triggers"]),
}


def kustomize(target: str) -> list[dict[str, Any]]:
    path = str(K8S / target)
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", path]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", path]
    else:
        cmd = ["go", "run", KUSTOMIZE_MODULE, "build", path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def check(docs: list[dict[str, Any]]) -> Iterator[str]:
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        schema = CRD_SCHEMAS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        try:
            if schema is not None:
                jsonschema.validate(doc, schema)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError) as exc:
            yield f"{where}: {getattr(exc, 'message', exc)}"
    yield from rules(docs)


def rules(docs: list[dict[str, Any]]) -> Iterator[str]:
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    deployments = by_kind.get("Deployment", {})
    if set(deployments) != set(SERVICES):
        yield f"Deployments {sorted(deployments)} != services {sorted(SERVICES)}"
    for name, d in deployments.items():
        yield from deployment_rules(name, d)
        if name not in by_kind.get("Service", {}):
            yield f"Deployment/{name}: no Service of the same name"
    for name, s in by_kind.get("Service", {}).items():
        if s["spec"].get("selector", {}).get("app") != name:
            yield f"Service/{name}: does not select app={name}"
    for name, job in by_kind.get("Job", {}).items():
        pod_labels = job["spec"]["template"]["metadata"]["labels"]
        for service, svc in by_kind.get("Service", {}).items():
            if svc["spec"].get("selector", {}).items() <= pod_labels.items():
                yield f"Job/{name}: its pods would receive Service/{service}'s requests"
    scaled = by_kind.get("ScaledObject", {})
    for name in SERVICES:
        if generate.consumes(name) and (
            name not in scaled
            or scaled[name]["spec"]["triggers"][0]["metadata"].get("consumerGroup") != name
        ):
            yield f"{name}: consumer without a lag ScaledObject on consumer group {name}"
    topics = {t["spec"].get("topicName", n) for n, t in by_kind.get("KafkaTopic", {}).items()}
    if topics != set(ALL_TOPICS):
        yield f"KafkaTopics differ from shared/events/topics.py: {topics ^ set(ALL_TOPICS)}"
    if "Secret" in by_kind:
        yield "a Secret is defined in the manifests: secrets are referenced, never written"


def deployment_rules(name: str, d: dict[str, Any]) -> Iterator[str]:
    pod = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    (c,) = pod["containers"]
    image = c["image"].rsplit("/", 1)[-1].split(":", 1)[0]
    if not (c["name"] == image == labels.get("app") == name):
        yield f"Deployment/{name}: container, image and app label must all be {name!r}"
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/internal/alive":
        yield f"Deployment/{name}: liveness probe must GET /internal/alive"
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/internal/ready":
        yield f"Deployment/{name}: readiness probe must GET /internal/ready"
    res = c.get("resources", {})
    if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get(
            "limits", {}):
        yield f"Deployment/{name}: cpu+memory requests and a memory limit are required"
    sc = c.get("securityContext", {})
    if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"]
            and (sc.get("runAsNonRoot") or pod.get("securityContext", {}).get("runAsNonRoot"))):
        yield f"Deployment/{name}: must run non-root, read-only, without privilege, drop ALL"
    for env in c.get("env", []):
        secretish = any(w in env["name"] for w in ("SECRET", "PASSWORD", "TOKEN", "DATABASE"))
        if secretish and "secretKeyRef" not in env.get("valueFrom", {}):
            yield f"Deployment/{name}: {env['name']} must come from a secretKeyRef"


def main() -> int:
    problems = []
    if generate.main(["--check"]):
        problems.append("deploy/k8s/base is stale")
    for target in TARGETS:
        docs = kustomize(target)
        found = list(check(docs))
        problems += [f"{target}: {p}" for p in found]
        kinds = sorted({d["kind"] for d in docs})
        print(f"{target}: {len(docs)} resources ({', '.join(kinds)}): "
              f"{'ok' if not found else f'{len(found)} problem(s)'}")
    for p in problems:
        print("  " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
