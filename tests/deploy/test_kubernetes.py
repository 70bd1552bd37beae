"""The rendered Kubernetes overlays: restricted pods, probes, GPU scheduling, Ollama fenced
off by NetworkPolicy, and every name the pods use resolving to something in the render."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.deploy import dockerfiles, manifests
from tests.deploy.compose import URL
from tests.deploy.tools import OVERLAYS, REPO

OLLAMA_CLIENT_LABEL = ("liftoff.dev/ollama-client", "true")
EVALUATION_CLIENT_LABEL = ("liftoff.dev/evaluation-client", "true")
# Secrets (and their keys) the pods read; deploy-k8s.yml creates them (never in the tree).
SECRETS = {
    "liftoff-api-keys": {"LIFTOFF_API_KEYS", "LIFTOFF_REDIS_URL"},
    "liftoff-evaluation": {"OPENAI_API_KEY", "LIFTOFF_EVAL_API_KEYS", "LIFTOFF_EVAL_DATABASE_URL"},
    "liftoff-retrieval": {"OPENAI_API_KEY", "LIFTOFF_RAG_DATABASE_URL"},
}


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return manifests.render(f"overlays/{request.param}")


def test_everything_lives_in_a_restricted_namespace(docs: list[dict[str, Any]]) -> None:
    namespace = manifests.one(docs, "Namespace", "liftoff")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "liftoff", doc["metadata"]["name"]


def test_every_container_runs_restricted(docs: list[dict[str, Any]]) -> None:
    for name, template in manifests.pod_templates(docs):
        pod = template["spec"].get("securityContext", {})
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert template["spec"].get("automountServiceAccountToken") is False, name
        for container in manifests.containers(template):
            context = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where


def test_long_running_containers_have_liveness_and_readiness_probes(
    docs: list[dict[str, Any]],
) -> None:
    for name, template in manifests.pod_templates(docs):
        if name.startswith("Job/"):
            continue
        for container in manifests.containers(template):
            assert "livenessProbe" in container and "readinessProbe" in container, name


def test_api_is_scaled_by_an_hpa_and_protected_by_a_pdb(docs: list[dict[str, Any]]) -> None:
    hpa = manifests.one(docs, "HorizontalPodAutoscaler", "api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = manifests.one(docs, "PodDisruptionBudget", "api")
    api = manifests.one(docs, "Deployment", "api")
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]


def test_ollama_keeps_its_models_on_a_volume_claim(docs: list[dict[str, Any]]) -> None:
    ollama = manifests.one(docs, "Deployment", "ollama")
    volumes = {volume["name"]: volume for volume in ollama["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["models"]["persistentVolumeClaim"]["claimName"]
    assert manifests.one(docs, "PersistentVolumeClaim", claim)
    (container,) = ollama["spec"]["template"]["spec"]["containers"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["models"]
    assert manifests.env_of(container)["OLLAMA_MODELS"] == mount


def _pods_with_label(docs: list[dict[str, Any]], key: str, value: str) -> set[str]:
    return {
        name
        for name, template in manifests.pod_templates(docs)
        if template["metadata"].get("labels", {}).get(key) == value
    }


def test_only_the_api_and_the_model_pull_job_may_reach_ollama(docs: list[dict[str, Any]]) -> None:
    policies = manifests.find(docs, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny, "no default-deny ingress policy"
    ollama_labels = manifests.one(docs, "Deployment", "ollama")["spec"]["selector"]["matchLabels"]
    (policy,) = [
        p for p in policies if p["spec"]["podSelector"].get("matchLabels") == ollama_labels
    ]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 11434}]
    (source,) = rule["from"]
    assert source == {"podSelector": {"matchLabels": dict([OLLAMA_CLIENT_LABEL])}}
    assert _pods_with_label(docs, *OLLAMA_CLIENT_LABEL) == {"Deployment/api", "Job/model-pull"}


def test_gpu_overlay_puts_ollama_on_an_l4_and_cpu_overlay_requests_no_gpu() -> None:
    for overlay, gpus in (("gke-gpu", "1"), ("cpu", None)):
        docs = manifests.render(f"overlays/{overlay}")
        spec = manifests.one(docs, "Deployment", "ollama")["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        limits = container["resources"].get("limits", {})
        assert limits.get("nvidia.com/gpu") == gpus, overlay
        if gpus:
            assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
                "tolerations"
            ]
        for name, template in manifests.pod_templates(docs):
            for other in manifests.containers(template):
                if name != "Deployment/ollama":
                    assert "nvidia.com/gpu" not in other.get("resources", {}).get("limits", {})


def _config_values(docs: list[dict[str, Any]], template: dict[str, Any]) -> list[str]:
    values = []
    for container in manifests.containers(template):
        values += list(manifests.env_of(container).values())
        for source in container.get("envFrom", []):
            name = source["configMapRef"]["name"]
            values += list(manifests.one(docs, "ConfigMap", name)["data"].values())
    return values


def test_services_reach_each_other_by_service_names_and_ports(docs: list[dict[str, Any]]) -> None:
    services = {doc["metadata"]["name"]: doc for doc in manifests.find(docs, "Service")}
    workloads = dict(manifests.pod_templates(docs))
    seen = set()
    for name, template in workloads.items():
        for value in _config_values(docs, template):
            for host, port in URL.findall(value):
                assert host in services, f"{name} calls {host}, which is no Service"
                ports = {p["port"]: p["targetPort"] for p in services[host]["spec"]["ports"]}
                assert int(port) in ports, f"{name} calls {host}:{port}; Service has {ports}"
                selector = services[host]["spec"]["selector"]
                backends = [
                    t
                    for t in workloads.values()
                    if selector.items() <= t["metadata"].get("labels", {}).items()
                ]
                assert len(backends) == 1, f"Service {host} selects {len(backends)} workloads"
                named = {
                    p.get("name"): p["containerPort"]
                    for c in backends[0]["spec"]["containers"]
                    for p in c.get("ports", [])
                }
                assert ports[int(port)] in named, f"Service {host} targets no container port"
                seen.add(f"{host}:{port}")
    assert seen == {"ollama:11434", "api:8000"}


def test_every_referenced_config_map_renders_and_secrets_are_the_deployed_ones(
    docs: list[dict[str, Any]],
) -> None:
    secrets: dict[str, set[str]] = {}
    for _, template in manifests.pod_templates(docs):
        for container in manifests.containers(template):
            for source in container.get("envFrom", []):
                manifests.one(docs, "ConfigMap", source["configMapRef"]["name"])
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets.setdefault(ref["name"], set()).add(ref["key"])
    assert secrets == SECRETS
    workflow = (REPO / ".github" / "workflows" / "deploy-k8s.yml").read_text(encoding="utf-8")
    docs_text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for secret, keys in SECRETS.items():
        created = workflow.split(f"create secret generic {secret}", 1)[1].split("kubectl apply")[0]
        by_hand = docs_text.split(f"create secret generic {secret}", 1)[1].split("\n\n")[0]
        for key in keys:
            assert f"--from-file={key}=" in created, f"deploy-k8s.yml: {secret} lacks {key}"
            # The documented by-hand setup must start too: every key the pods read.
            assert f"--from-literal={key}=" in by_hand.split("kubectl -n")[0], secret


def test_model_pull_job_pulls_the_model_the_api_serves(docs: list[dict[str, Any]]) -> None:
    job = manifests.one(docs, "Job", "model-pull")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [
        "liftoff",
        "pull",
        "--host",
        "$(OLLAMA_HOST)",
        "$(LIFTOFF_MODEL)",
    ]
    api = manifests.one(docs, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == api["envFrom"]  # the same ConfigMap: the same model


def test_overlays_serve_llama31_8b_on_gpu_and_a_small_model_on_cpu() -> None:
    for overlay, model in (("gke-gpu", "llama3.1:8b"), ("cpu", "llama3.2:1b")):
        docs = manifests.render(f"overlays/{overlay}")
        (config,) = [
            doc
            for doc in manifests.find(docs, "ConfigMap")
            if doc["metadata"]["name"].startswith("liftoff-api-")
        ]
        assert config["data"]["LIFTOFF_MODEL"] == model


def test_the_hpa_owns_the_replica_count(docs: list[dict[str, Any]]) -> None:
    """ "When an HPA is enabled, it is recommended that the value of ``spec.replicas`` of the
    Deployment ... be removed from their manifest(s)": each ``kubectl apply`` would scale it
    back to the manifest's number (Kubernetes docs, "Horizontal Pod Autoscaling" >
    "Migrating Deployments and StatefulSets to horizontal autoscaling")."""
    for hpa in manifests.find(docs, "HorizontalPodAutoscaler"):
        target = manifests.one(docs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"], target["metadata"]["name"]


def _container_env(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(manifests.one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if item.get("valueFrom", {}).get("secretKeyRef", {}).get("optional"):
            continue  # an optional key (a Redis or database URL) may be absent: the default
        env[item["name"]] = item.get("value", "sk-from-a-secret")
    return env


def test_the_gateways_together_never_ask_ollama_for_more_than_it_serves(
    docs: list[dict[str, Any]],
) -> None:
    """Every gateway replica talks to the one Ollama. Each admits its concurrency limit
    (computed here by the gateway's own settings class from the rendered environment); at
    the HPA's maximum they must not exceed Ollama's ``OLLAMA_NUM_PARALLEL``, or requests
    queue inside Ollama, unbounded and past the gateways' own queue and timeouts."""
    api = manifests.one(docs, "Deployment", "api")
    (gateway,) = api["spec"]["template"]["spec"]["containers"]
    env = {**os.environ, **_container_env(docs, gateway), "LIFTOFF_API_KEYS": "sk-x"}
    probe = "from liftoff.api.config import Settings; print(Settings().concurrency_limit)"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    per_gateway = int(result.stdout.strip().splitlines()[-1])
    hpa = manifests.one(docs, "HorizontalPodAutoscaler", "api")
    (ollama,) = manifests.one(docs, "Deployment", "ollama")["spec"]["template"]["spec"][
        "containers"
    ]
    slots = int(manifests.env_of(ollama)["OLLAMA_NUM_PARALLEL"])
    assert hpa["spec"]["maxReplicas"] * per_gateway <= slots, (
        f"{hpa['spec']['maxReplicas']} gateways x {per_gateway} > Ollama's {slots}"
    )
    assert hpa["spec"]["minReplicas"] * per_gateway >= slots // 2  # and not idling Ollama


DRAIN_SECONDS = 5  # endpoints leave kube-proxy and load balancers within a few seconds


def _drain_and_grace(docs: list[dict[str, Any]], name: str) -> tuple[float, float]:
    spec = manifests.one(docs, "Deployment", name)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = _container_env(docs, container)
    if "LIFTOFF_SHUTDOWN_DRAIN_SECONDS" in env:  # the gateway drains by itself
        return float(env["LIFTOFF_SHUTDOWN_DRAIN_SECONDS"]), float(
            env["LIFTOFF_SHUTDOWN_GRACE_SECONDS"]
        )
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    drain = float(command[1]) if command and command[0] == "sleep" else 0.0
    image_cmd = dockerfiles.parse(REPO / "images" / name / "Dockerfile").cmd()
    grace = float(image_cmd[image_cmd.index("--timeout-graceful-shutdown") + 1])
    return drain, grace


@pytest.mark.parametrize("name", ["api", "evaluation"])
def test_pods_behind_a_service_drain_before_they_stop_accepting(
    docs: list[dict[str, Any]], name: str
) -> None:
    """Removing a terminating pod from its Service's endpoints happens at the same time as
    the SIGTERM, not before it (Kubernetes docs, "Pod Lifecycle" > "Termination of Pods"), so
    a server that stops accepting at once refuses requests still routed to it. Each pod keeps
    accepting for a drain (the gateway's ``LIFTOFF_SHUTDOWN_DRAIN_SECONDS``, or a ``preStop``
    sleep), and drain plus its in-flight grace fits in ``terminationGracePeriodSeconds``."""
    drain, grace = _drain_and_grace(docs, name)
    spec = manifests.one(docs, "Deployment", name)["spec"]["template"]["spec"]
    period = spec.get("terminationGracePeriodSeconds", 30)
    assert drain >= DRAIN_SECONDS, f"{name} stops accepting after {drain} s"
    assert drain + grace < period, f"{name}: {drain} + {grace} s >= {period} s"


def test_the_evaluation_service_takes_traffic_only_from_labelled_clients(
    docs: list[dict[str, Any]],
) -> None:
    labels = manifests.one(docs, "Deployment", "evaluation")["spec"]["selector"]["matchLabels"]
    (policy,) = [
        p
        for p in manifests.find(docs, "NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels") == labels
    ]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": dict([EVALUATION_CLIENT_LABEL])}}]
    assert _pods_with_label(docs, *EVALUATION_CLIENT_LABEL) == set()  # none by default


def test_the_evaluation_service_gets_keys_of_its_own(docs: list[dict[str, Any]]) -> None:
    (container,) = manifests.one(docs, "Deployment", "evaluation")["spec"]["template"]["spec"][
        "containers"
    ]
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "valueFrom" in item
    }
    assert refs["LIFTOFF_EVAL_API_KEYS"] == {
        "name": "liftoff-evaluation",
        "key": "LIFTOFF_EVAL_API_KEYS",
    }
