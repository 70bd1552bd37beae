"""Rendered kustomize trees as Python objects (``kubectl kustomize`` does the rendering)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import yaml

from tests.deploy.tools import REPO, explain, run, validator

POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


@functools.cache
def render_text(tree: str) -> str:
    """`kubectl kustomize k8s/<tree>`; fails the test with kubectl's message if it cannot."""
    result = run([validator("kubectl"), "kustomize", str(REPO / "k8s" / tree)])
    assert result.returncode == 0, f"kubectl kustomize k8s/{tree}: {explain(result)}"
    return result.stdout


def render(tree: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(render_text(tree)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod template) of every workload."""
    for doc in docs:
        if doc["kind"] in POD_TEMPLATE_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template["spec"]
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}
