"""Azure Container Apps' admission rules over ``deploy/azure/containerapp.yaml``: probe
types, handlers and ranges, container resources within the serverless GPU profile, and the
GPU reaching Ollama. Rules and sources in ``tests/deploy/platforms.py``."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests.deploy import platforms
from tests.deploy.tools import REPO

APP = REPO / "deploy" / "azure" / "containerapp.yaml"


@pytest.fixture
def app() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(APP.read_text(encoding="utf-8"))
    return loaded


def _containers(app: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = app["properties"]["template"]["containers"]
    return containers


def _documented_profile() -> str:
    """The workload profile type docs/deploy.md tells operators to add."""
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    (profile,) = set(re.findall(r"--workload-profile-type (\S+)", docs))
    return profile


def test_every_probe_is_within_the_container_apps_ranges(app: dict[str, Any]) -> None:
    for container in _containers(app):
        assert platforms.azure_probe_violations(container) == []


def test_resources_fit_every_serverless_gpu_profile(app: dict[str, Any]) -> None:
    assert _documented_profile() in platforms.AZURE_GPU_PROFILES
    for profile in platforms.AZURE_GPU_PROFILES:  # the documented one, and the smaller T4
        assert platforms.azure_resource_violations(_containers(app), profile) == []


def test_ollama_is_the_container_that_gets_the_gpu(app: dict[str, Any]) -> None:
    assert platforms.azure_gpu_container_violations(_containers(app), "liftoff-ollama") == []


@pytest.mark.parametrize(
    ("container", "change", "found"),
    [
        ("api", {"type": "Startup", "periodSeconds": 5, "failureThreshold": 60},
         "failureThreshold 60 outside 1-10"),
        ("ollama", {"type": "Startup", "periodSeconds": 2, "failureThreshold": 120},
         "failureThreshold 120 outside 1-10"),
        ("api", {"type": "Liveness", "periodSeconds": 300}, "periodSeconds 300 outside 1-240"),
        ("api", {"type": "Liveness", "initialDelaySeconds": 90},
         "initialDelaySeconds 90 outside 1-60"),
        ("api", {"type": "Startup", "successThreshold": 2}, "successThreshold must be 1"),
    ],
)  # fmt: skip
def test_probe_rules_catch_what_container_apps_refuses(
    app: dict[str, Any], container: str, change: dict[str, Any], found: str
) -> None:
    target = next(c for c in _containers(app) if c["name"] == container)
    probe = next(p for p in target["probes"] if p["type"] == change["type"])
    probe.update(change)
    problems = platforms.azure_probe_violations(target)
    assert any(found in problem for problem in problems), problems


def test_the_gateway_first_would_leave_ollama_without_the_gpu(app: dict[str, Any]) -> None:
    containers = copy.deepcopy(_containers(app))
    containers.reverse()
    assert platforms.azure_gpu_container_violations(containers, "liftoff-ollama")


def test_resources_beyond_the_t4_profile_are_refused(app: dict[str, Any]) -> None:
    containers = copy.deepcopy(_containers(app))
    containers[0]["resources"] = {"cpu": 7.5, "memory": "55Gi"}
    problems = platforms.azure_resource_violations(containers, "Consumption-GPU-NC8as-T4")
    assert any("exceed Consumption-GPU-NC8as-T4" in problem for problem in problems)
    containers[0]["resources"] = {"cpu": 1.255, "memory": "2.5Gi"}
    problems = platforms.azure_resource_violations(containers, "Consumption-GPU-NC24-A100")
    assert any("not a positive 0.01 multiple" in problem for problem in problems)
