"""Cloud Run's admission rules over the rendered service (``kubectl kustomize k8s/cloudrun``
and the render the deploy workflow makes): label keys, probe windows and ranges, the GPU
shape and its CPU/memory minimums, CPU/memory pairs. The rules and their sources are in
``tests/deploy/platforms.py``; each case below that breaks a rule is one that broke, or
would break, ``gcloud run services replace``."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.deploy import manifests, platforms
from tests.deploy.tools import REPO, explain, run, validator


def _rendered_by_the_workflow() -> dict[str, Any]:
    result = run(
        [
            sys.executable, str(REPO / "scripts" / "render_deploy.py"), "k8s/cloudrun",
            "--cloud-run-revision", "liftoff-9-1", "--keep-traffic", "liftoff-8-1",
            "--service-account", "run@p.iam.gserviceaccount.com", "--model", "llama3.1:8b",
            "--image", "liftoff-api=r/liftoff-api:sha-1",
            "--image", "liftoff-ollama=r/liftoff-ollama:sha-1",
            "--kubectl", validator("kubectl"),
        ]
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    (service,) = yaml.safe_load_all(result.stdout)
    return dict(service)


@pytest.fixture(scope="module", params=["kustomize", "workflow-render"])
def service(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "kustomize":
        (rendered,) = manifests.render("cloudrun")
        return rendered
    return _rendered_by_the_workflow()


def test_the_cloud_run_service_is_admitted(service: dict[str, Any]) -> None:
    assert platforms.cloud_run_service_violations(service) == []


def _containers(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in service["spec"]["template"]["spec"]["containers"]}


def _label(service: dict[str, Any]) -> None:
    service["metadata"]["labels"] = {"app.kubernetes.io/part-of": "liftoff"}


def _startup_300s(service: dict[str, Any]) -> None:
    _containers(service)["api"]["startupProbe"].update(periodSeconds=5, failureThreshold=60)


def _tcp_liveness(service: dict[str, Any]) -> None:
    _containers(service)["api"]["livenessProbe"] = {"tcpSocket": {"port": 8080}}


def _two_gpus(service: dict[str, Any]) -> None:
    _containers(service)["api"]["resources"]["limits"]["nvidia.com/gpu"] = "1"


def _small_gpu_container(service: dict[str, Any]) -> None:
    _containers(service)["ollama"]["resources"]["limits"].update(cpu="2", memory="8Gi")


def _memory_without_cpu(service: dict[str, Any]) -> None:
    _containers(service)["api"]["resources"]["limits"].update(cpu="2", memory="12Gi")


def _throttled_gpu(service: dict[str, Any]) -> None:
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    annotations["run.googleapis.com/cpu-throttling"] = "true"


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (_label, "label key 'app.kubernetes.io/part-of'"),
        (_startup_300s, "startup probe allows 300 s, more than Cloud Run's 240 s"),
        (_tcp_liveness, "liveness probes must be HTTP or gRPC"),
        (_two_gpus, "2 containers hold a GPU"),
        (_small_gpu_container, "nvidia-l4 needs at least 4 CPU and 16 GiB"),
        (_memory_without_cpu, "memory over 8 GiB needs 4 CPU"),
        (_throttled_gpu, "GPUs need CPU always allocated"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_each_rule_catches_the_file_that_breaks_it(
    change: Callable[[dict[str, Any]], None], found: str
) -> None:
    (service,) = manifests.render("cloudrun")
    broken = copy.deepcopy(service)
    change(broken)
    problems = platforms.cloud_run_service_violations(broken)
    assert any(found in problem for problem in problems), problems


def test_every_google_label_rule_applies() -> None:
    assert platforms.google_label_violations({"app": "liftoff", "team_1": "ml-ops"}, "x") == []
    for key in ("App", "1app", "app.name", "a" * 64, ""):
        assert platforms.google_label_violations({key: "v"}, "x"), key
    assert platforms.google_label_violations({"app": "Liftoff"}, "x")
    assert platforms.google_label_violations({f"k{i}": "v" for i in range(65)}, "x")
