"""Cloud Run (Knative YAML and its render), Vertex AI and Azure Container Apps definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.deploy import manifests
from tests.deploy.tools import REPO, explain, run, validator

RENDER = [sys.executable, str(REPO / "scripts" / "render_deploy.py")]


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    (service,) = manifests.render("cloudrun")
    return service


def _containers(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in service["spec"]["template"]["spec"]["containers"]}


def _quantity(value: str) -> float:
    units = {"Gi": 1024**3, "Mi": 1024**2}
    for unit, factor in units.items():
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def test_cloud_run_puts_one_l4_on_the_ollama_container(service: dict[str, Any]) -> None:
    template = service["spec"]["template"]
    assert template["spec"]["nodeSelector"] == {"run.googleapis.com/accelerator": "nvidia-l4"}
    containers = _containers(service)
    gpus = {name: c["resources"]["limits"].get("nvidia.com/gpu") for name, c in containers.items()}
    assert gpus == {"api": None, "ollama": "1"}
    limits = containers["ollama"]["resources"]["limits"]
    assert float(limits["cpu"]) >= 4 and _quantity(limits["memory"]) >= 16 * 1024**3
    annotations = template["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"  # no CPU throttling
    assert json.loads(annotations["run.googleapis.com/container-dependencies"]) == {
        "api": ["ollama"]
    }


def test_cloud_run_concurrency_equals_ollama_parallelism(service: dict[str, Any]) -> None:
    containers = _containers(service)
    parallel = manifests.env_of(containers["ollama"])["OLLAMA_NUM_PARALLEL"]
    assert service["spec"]["template"]["spec"]["containerConcurrency"] == int(parallel)
    assert manifests.env_of(containers["api"])["OLLAMA_NUM_PARALLEL"] == parallel


def test_cloud_run_ollama_is_reachable_only_from_the_api(service: dict[str, Any]) -> None:
    containers = _containers(service)
    assert [name for name, c in containers.items() if c.get("ports")] == ["api"]
    assert manifests.env_of(containers["api"])["OLLAMA_HOST"] == "http://127.0.0.1:11434"
    assert containers["ollama"]["startupProbe"]["tcpSocket"]["port"] == 11434


def test_cloud_run_keeps_iam_on(service: dict[str, Any]) -> None:
    annotations = service["metadata"]["annotations"]
    assert annotations.get("run.googleapis.com/invoker-iam-disabled", "false") == "false"
    audiences = json.loads(annotations["run.googleapis.com/custom-audiences"])
    workflow = (REPO / ".github" / "workflows" / "deploy-cloudrun.yml").read_text()
    assert f"id_token_audience: {audiences[0]}" in workflow
    assert "allow-unauthenticated" not in workflow and "allUsers" not in workflow


def test_cloud_run_api_is_started_when_ready_and_serves_cloud_runs_port(
    service: dict[str, Any],
) -> None:
    api = _containers(service)["api"]
    assert api["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert api["startupProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    env = manifests.env_of(api)
    assert env["LIFTOFF_BACKEND"] == "ollama" and env["LIFTOFF_OLLAMA_PULL"] == "false"


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return run([*RENDER, *args, "--kubectl", validator("kubectl")])


def test_render_names_the_revision_and_keeps_traffic_until_the_smoke_test() -> None:
    result = _render(
        "k8s/cloudrun",
        "--cloud-run-revision", "liftoff-123-1",
        "--keep-traffic", "liftoff-100-1",
        "--service-account", "run@p.iam.gserviceaccount.com",
        "--model", "llama3.2:3b",
        "--image", "liftoff-api=europe-docker.pkg.dev/p/r/liftoff-api:sha-abc",
        "--image", "liftoff-ollama=europe-docker.pkg.dev/p/r/liftoff-ollama@sha256:" + "0" * 64,
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    (service,) = yaml.safe_load_all(result.stdout)
    spec = service["spec"]
    assert spec["template"]["metadata"]["name"] == "liftoff-123-1"
    assert spec["template"]["spec"]["serviceAccountName"] == "run@p.iam.gserviceaccount.com"
    assert spec["traffic"] == [
        {"revisionName": "liftoff-100-1", "percent": 100},
        {"revisionName": "liftoff-123-1", "tag": "candidate", "percent": 0},
    ]
    containers = _containers(service)
    assert containers["api"]["image"] == "europe-docker.pkg.dev/p/r/liftoff-api:sha-abc"
    assert containers["ollama"]["image"].endswith("@sha256:" + "0" * 64)
    assert manifests.env_of(containers["api"])["LIFTOFF_MODEL"] == "llama3.2:3b"
    # The template's annotations survive the patch.
    assert "run.googleapis.com/cpu-throttling" in spec["template"]["metadata"]["annotations"]


def test_render_of_a_first_deploy_sends_traffic_to_the_new_revision() -> None:
    result = _render("k8s/cloudrun", "--cloud-run-revision", "liftoff-1-1")
    assert result.returncode == 0, explain(result)
    (service,) = yaml.safe_load_all(result.stdout)
    assert service["spec"]["traffic"] == [
        {"revisionName": "liftoff-1-1", "tag": "candidate", "percent": 100}
    ]


def test_render_sets_the_kubernetes_images_and_model() -> None:
    result = _render(
        "k8s/overlays/gke-gpu",
        "--model", "llama3.1:70b",
        "--image", "liftoff-api=reg/liftoff-api:sha-1",
        "--image", "liftoff-evaluation=reg/liftoff-evaluation:sha-1",
        "--image", "liftoff-retrieval=reg/liftoff-retrieval:sha-1",
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    images = {c["image"] for _, t in manifests.pod_templates(docs) for c in manifests.containers(t)}
    assert images == {
        "reg/liftoff-api:sha-1",
        "reg/liftoff-evaluation:sha-1",
        "reg/liftoff-retrieval:sha-1",
        "ollama/ollama:0.24.0",
    }
    config = [d for d in manifests.find(docs, "ConfigMap") if "LIFTOFF_MODEL" in d.get("data", {})]
    assert [d["data"]["LIFTOFF_MODEL"] for d in config] == ["llama3.1:70b"]


def test_render_fails_loudly_on_a_missing_tree_and_leaves_nothing_behind() -> None:
    result = _render("k8s/overlays/nowhere", "--image", "liftoff-api=x:1")
    assert result.returncode == 1
    assert "kubectl kustomize k8s/overlays/nowhere failed" in result.stderr
    assert not list((REPO / "build").glob("render-*"))


def test_vertex_script_registers_the_gateways_routes_and_port() -> None:
    result = run(
        [
            sys.executable, str(REPO / "deploy" / "vertex" / "deploy.py"),
            "--project", "p", "--region", "us-central1", "--image", "reg/liftoff-api:sha-1",
            "--model", "meta-llama/Llama-3.1-8B-Instruct",
            "--openai-base-url", "https://vllm.example/v1", "--dry-run",
        ]
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    upload = next(line for line in result.stderr.splitlines() if "models upload" in line)
    from liftoff.api.config import Settings

    defaults = Settings.model_fields
    assert f"--container-health-route={defaults['vertex_health_route'].default}" in upload
    assert f"--container-predict-route={defaults['vertex_predict_route'].default}" in upload
    assert "--container-ports=8080" in upload and "LIFTOFF_AUTH=off" in upload
    assert "deploy-model" in result.stderr and json.loads(result.stdout.splitlines()[-1])


def test_azure_container_app_exposes_only_the_gateway_and_reads_keys_from_key_vault() -> None:
    app = yaml.safe_load((REPO / "deploy" / "azure" / "containerapp.yaml").read_text())
    properties = app["properties"]
    containers = {c["name"]: c for c in properties["template"]["containers"]}
    assert set(containers) == {"api", "ollama"}
    assert properties["configuration"]["ingress"]["targetPort"] == 8000
    api_env = {e["name"]: e for e in containers["api"]["env"]}
    assert api_env["OLLAMA_HOST"]["value"] == "http://localhost:11434"
    assert api_env["LIFTOFF_API_KEYS"] == {
        "name": "LIFTOFF_API_KEYS",
        "secretRef": "liftoff-api-keys",
    }
    (secret,) = properties["configuration"]["secrets"]
    assert "value" not in secret and secret["keyVaultUrl"].startswith("https://")
    rule = properties["template"]["scale"]["rules"][0]["http"]["metadata"]
    parallel = {e["name"]: e["value"] for e in containers["ollama"]["env"]}["OLLAMA_NUM_PARALLEL"]
    assert rule["concurrentRequests"] == parallel


def _evaluation_column() -> dict[str, str]:
    """target -> the "evaluation service" column of docs/deploy.md's targets table."""
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = docs.split("| target | files | how | evaluation service |", 1)[1].split("\n\n")[0]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    return {row[0].strip(): row[3].strip() for row in rows}


def test_docs_say_where_the_evaluation_service_runs_and_the_files_agree() -> None:
    """The docs once said every image runs on every target; the evaluation service is
    deployed by Compose and Kubernetes only."""
    column = _evaluation_column()
    deployed = {
        "one machine with Docker": "evaluation"
        in yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"],
        "Kubernetes (GKE GPU node pool, or any cluster)": bool(
            manifests.find(manifests.render("overlays/cpu"), "Deployment", "evaluation")
        ),
        "Cloud Run, one NVIDIA L4": any(
            "evaluation" in c["image"]
            for c in manifests.render("cloudrun")[0]["spec"]["template"]["spec"]["containers"]
        ),
        "Vertex AI Prediction": "liftoff-evaluation"
        in (REPO / "deploy" / "vertex" / "deploy.py").read_text(),
        "Azure Container Apps": "liftoff-evaluation"
        in (REPO / "deploy" / "azure" / "containerapp.yaml").read_text(),
    }
    for target, present in deployed.items():
        assert column[target].startswith("yes" if present else "no"), target
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "run\neverywhere below" not in docs and "run everywhere below" not in docs


@pytest.mark.parametrize(
    ("tree", "extra"),
    [
        ("k8s/overlays/cpu", []),
        ("k8s/overlays/gke-gpu", []),
        ("k8s/overlays/cpu", ["--model", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"]),
        ("k8s/cloudrun", ["--cloud-run-revision", "liftoff-1-1", "--model", "llama3.2:3b"]),
    ],
)
def test_render_outputs_name_the_served_model_and_whether_it_gets_a_gpu(
    tmp_path: Any, tree: str, extra: list[str]
) -> None:
    """What the deploy workflow hands the smoke test, checked against the render itself."""
    outputs = tmp_path / "github-output"
    outputs.write_text("earlier=1\n")
    result = _render(tree, *extra, "--outputs", str(outputs))
    assert result.returncode == 0, explain(result)
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    models = [
        d["data"]["LIFTOFF_MODEL"]
        for d in manifests.find(docs, "ConfigMap")
        if "LIFTOFF_MODEL" in d.get("data", {})
    ]
    gpu = False
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            models += [e["value"] for e in container.get("env", []) if e["name"] == "LIFTOFF_MODEL"]
            gpu = gpu or "nvidia.com/gpu" in container.get("resources", {}).get("limits", {})
    (model,) = set(models)
    assert outputs.read_text() == f"earlier=1\nmodel={model}\ngpu={str(gpu).lower()}\n"
