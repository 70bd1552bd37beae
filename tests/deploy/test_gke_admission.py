"""GKE's side of the ``gke-gpu`` overlay: GPU requests the way Kubernetes schedules them,
and Ollama's requests fitting the smallest L4 machine the docs name (``g2-standard-4``).
Rules and sources in ``tests/deploy/platforms.py``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.deploy import manifests, platforms
from tests.deploy.tools import OVERLAYS, REPO

MACHINE = "g2-standard-4"  # the smallest machine with an L4


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gpu_requests_are_whole_limits(overlay: str) -> None:
    for name, template in manifests.pod_templates(manifests.render(f"overlays/{overlay}")):
        for container in manifests.containers(template):
            assert platforms.gpu_requests(container) == [], name


def _gpu_pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        template
        for _, template in manifests.pod_templates(docs)
        if template["spec"].get("nodeSelector", {}).get("cloud.google.com/gke-accelerator")
    ]


def fits(machine: str, templates: list[dict[str, Any]]) -> tuple[bool, str]:
    vcpus, memory_gb, gpus = platforms.G2_MACHINES[machine]
    cpu_left, memory_left = platforms.gke_allocatable(vcpus, memory_gb * 10**9)
    cpu_left -= platforms.DAEMONSET_ALLOWANCE[0]
    memory_left -= platforms.DAEMONSET_ALLOWANCE[1]
    cpu = sum((c for t in templates for c, _ in platforms.pod_requests(t)), Decimal(0))
    memory = sum(m for t in templates for _, m in platforms.pod_requests(t))
    gpu = sum(
        int(str(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)))
        for t in templates
        for c in t["spec"]["containers"]
    )
    detail = (
        f"{machine}: requests {cpu} CPU / {memory / platforms.GiB:.2f} GiB / {gpu} GPU, "
        f"room {cpu_left} CPU / {memory_left / platforms.GiB:.2f} GiB / {gpus} GPU"
    )
    return cpu <= cpu_left and memory <= memory_left and gpu <= gpus, detail


def test_the_gpu_overlay_fits_the_smallest_l4_machine() -> None:
    templates = _gpu_pods(manifests.render("overlays/gke-gpu"))
    assert templates, "no pod selects the L4 node pool"
    ok, detail = fits(MACHINE, templates)
    assert ok, detail


def test_the_machine_type_is_named_where_the_pool_is_made() -> None:
    overlay = (REPO / "k8s" / "overlays" / "gke-gpu" / "ollama-gpu.yaml").read_text()
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"--machine-type={MACHINE}" in overlay and f"--machine-type={MACHINE}" in docs


def test_the_old_requests_did_not_fit() -> None:
    """4 CPU and 16 GiB, what the overlay asked before: more than a g2-standard-4 leaves."""
    requests = {"cpu": "4", "memory": "16Gi"}
    template = {"spec": {"containers": [{"resources": {"requests": requests}}]}}
    ok, detail = fits(MACHINE, [template])
    assert not ok, detail
    assert fits("g2-standard-8", [template])[0]


def test_allocatable_matches_the_documented_reservations() -> None:
    """Worked example: 4 vCPU keep 3.92 (6% + 1% + 0.5% + 0.5% of a core reserved); 16 GiB
    keep 16 - (1 + 0.8 + 0.8) GiB reserved - 100 MiB for eviction."""
    cpu, memory = platforms.gke_allocatable(4, 16 * platforms.GiB)
    assert cpu == Decimal("3.92")
    assert abs(memory - (16 * platforms.GiB - 2.6 * platforms.GiB - 100 * 1024**2)) <= 1
