"""What each platform admits, as rules over parsed deploy files: every function returns the
violations it finds (empty: admitted), so a test can show both that our files pass and that
the input which once broke a deploy is caught.

Each rule's docstring names the documentation it encodes. Where a platform documents less
than it enforces, or its pages disagree, the rule keeps to the strictest documented reading
and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

GiB = 1024**3

# --- Quantities ---------------------------------------------------------------------------

_SUFFIXES = {
    "Ki": 1024, "Mi": 1024**2, "Gi": GiB, "Ti": 1024**4,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
}  # fmt: skip


def cpu(value: object) -> Decimal:
    """A Kubernetes CPU quantity in cores: ``"250m"`` -> 0.25, ``4`` -> 4."""
    text = str(value)
    return Decimal(text[:-1]) / 1000 if text.endswith("m") else Decimal(text)


def memory(value: object) -> int:
    """A Kubernetes memory quantity in bytes: ``"16Gi"``, ``"512Mi"``, ``"8G"``."""
    text = str(value)
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return int(Decimal(text[: -len(suffix)]) * factor)
    return int(Decimal(text))


# --- Google Cloud labels (Cloud Run) -------------------------------------------------------

_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def google_label_violations(labels: Mapping[str, str], where: str) -> list[str]:
    """Cloud Run takes only valid Google Cloud labels ("Configure labels for services",
    https://cloud.google.com/run/docs/configuring/services/labels), whose requirements
    ("Create and manage labels", https://cloud.google.com/resource-manager/docs/creating-managing-labels#requirements)
    are: at most 64 labels; keys of 1-63 characters that start with a lowercase letter and
    hold only lowercase letters, digits, underscores and dashes; values of at most 63 of the
    same characters. (International lowercase letters are allowed too; the rule checks the
    ASCII subset, stricter than needed.) No ``/`` or ``.``: Kubernetes' recommended
    ``app.kubernetes.io/part-of`` is refused."""
    problems = [] if len(labels) <= 64 else [f"{where}: {len(labels)} labels, at most 64"]
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            problems.append(f"{where}: label key {key!r} is not a Google Cloud label key")
        if not _LABEL_VALUE.fullmatch(str(value)):
            problems.append(f"{where}: label value {value!r} of {key!r} is not valid")
    return problems


# --- Cloud Run services ----------------------------------------------------------------------

CLOUD_RUN_STARTUP_WINDOW = 240  # seconds
CLOUD_RUN_GPU_MINIMUMS = {  # accelerator -> (CPU, memory)
    "nvidia-l4": (4, 16 * GiB),
    "nvidia-rtx-pro-6000": (20, 80 * GiB),
}
CLOUD_RUN_L4_DRIVER = (535, 216)  # "GPU support for services": 535.216.03 (CUDA 12.2)


def _in(value: object, low: float, high: float) -> bool:
    return isinstance(value, int) and low <= value <= high


def cloud_run_probe_violations(container: Mapping[str, Any]) -> list[str]:
    """Probe limits of a Cloud Run service's container.

    "Configure container health checks (services)",
    https://cloud.google.com/run/docs/configuring/healthchecks: startup probes are HTTP,
    TCP or gRPC; liveness probes HTTP or gRPC only; ``initialDelaySeconds`` 0-240,
    ``periodSeconds`` 1-240 and ``timeoutSeconds`` 1-240 and at most ``periodSeconds`` for a
    startup probe; the default startup probe is a single 240 s try. The Admin API's ``Probe``
    (https://cloud.google.com/run/docs/reference/rest/v2/Containers#Probe) gives the same
    startup maximum of 240 and 3600 for liveness. The whole startup window,
    ``initialDelaySeconds + failureThreshold x periodSeconds``, is kept within 240 s: the
    services pages have long stated it; the copy of the page read offline states the
    per-field ranges and the 240 s default, and newer Cloud Run *jobs* pages allow 600 s
    (1800 s with a GPU) for jobs only.
    """
    name = container.get("name", "?")
    problems = []
    startup = container.get("startupProbe")
    if startup:
        delay = startup.get("initialDelaySeconds", 0)
        period = startup.get("periodSeconds", 10)
        timeout = startup.get("timeoutSeconds", 1)
        failures = startup.get("failureThreshold", 3)
        if not _in(delay, 0, 240):
            problems.append(f"{name}: startup initialDelaySeconds {delay} outside 0-240")
        if not _in(period, 1, 240):
            problems.append(f"{name}: startup periodSeconds {period} outside 1-240")
        if not _in(timeout, 1, 240) or timeout > period:
            problems.append(f"{name}: startup timeoutSeconds {timeout} not 1-240 and <= period")
        if not _in(failures, 1, 10**6):
            problems.append(f"{name}: startup failureThreshold {failures} below 1")
        window = delay + failures * period
        if window > CLOUD_RUN_STARTUP_WINDOW:
            problems.append(
                f"{name}: startup probe allows {window} s, more than Cloud Run's "
                f"{CLOUD_RUN_STARTUP_WINDOW} s ({delay} + {failures} x {period})"
            )
    liveness = container.get("livenessProbe")
    if liveness:
        if not ({"httpGet", "grpc"} & set(liveness)):
            problems.append(f"{name}: liveness probes must be HTTP or gRPC")
        period = liveness.get("periodSeconds", 10)
        timeout = liveness.get("timeoutSeconds", 1)
        if not _in(period, 1, 3600) or not _in(timeout, 1, 3600) or timeout > period:
            problems.append(f"{name}: liveness period/timeout {period}/{timeout} out of range")
    if "readinessProbe" in container:
        problems.append(f"{name}: readiness probes are a Preview feature on Cloud Run")
    return problems


def cloud_run_resource_violations(container: Mapping[str, Any]) -> list[str]:
    """CPU and memory a Cloud Run container may have.

    "Configure CPU limits for services" (https://cloud.google.com/run/docs/configuring/services/cpu):
    below 1 CPU, 0.08-1 in steps of 0.001; above 1, whole numbers. "Configure memory
    limits" (https://cloud.google.com/run/docs/configuring/services/memory-limits): more than
    4 GiB needs at least 2 CPU, more than 8 GiB 4, more than 16 GiB 6, more than 24 GiB 8;
    at most 32 GiB (an RTX PRO 6000 GPU instance, with its own minimums, goes beyond).
    """
    name = container.get("name", "?")
    limits = container.get("resources", {}).get("limits", {})
    problems = []
    cores = cpu(limits.get("cpu", 1))
    if cores < 1 and not (Decimal("0.08") <= cores and cores == cores.quantize(Decimal("0.001"))):
        problems.append(f"{name}: CPU {cores} below 1 must be 0.08-1 in steps of 0.001")
    if cores > 1 and cores != cores.to_integral_value():
        problems.append(f"{name}: CPU {cores} above 1 must be a whole number")
    size = memory(limits.get("memory", "512Mi"))
    for above, needs in ((4, 2), (8, 4), (16, 6), (24, 8)):
        if size > above * GiB and cores < needs:
            problems.append(f"{name}: memory over {above} GiB needs {needs} CPU, has {cores}")
    if size > 32 * GiB and "nvidia.com/gpu" not in limits:
        problems.append(f"{name}: memory {size / GiB:g} GiB above Cloud Run's 32 GiB")
    return problems


def cloud_run_gpu_violations(template: Mapping[str, Any]) -> list[str]:
    """The GPU shape of a Cloud Run service revision.

    "GPU support for services" (https://cloud.google.com/run/docs/configuring/services/gpu):
    one GPU per instance, attached to one container even with sidecars
    (``nvidia.com/gpu: "1"``, ``run.googleapis.com/accelerator`` node selector); an L4 needs
    at least 4 CPU and 16 GiB, an RTX PRO 6000 20 CPU and 80 GiB; instance-based billing
    (CPU always allocated, ``run.googleapis.com/cpu-throttling: "false"``). The minimums are
    checked on the container holding the GPU, which satisfies them per instance as well.
    """
    spec = template["spec"]
    holders = [
        c
        for c in spec["containers"]
        if "nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
    ]
    accelerator = spec.get("nodeSelector", {}).get("run.googleapis.com/accelerator")
    if not holders and accelerator is None:
        return []
    problems = []
    if len(holders) != 1:
        problems.append(f"{len(holders)} containers hold a GPU; exactly one may")
    if accelerator not in CLOUD_RUN_GPU_MINIMUMS:
        problems.append(
            f"accelerator {accelerator!r} is not one of {sorted(CLOUD_RUN_GPU_MINIMUMS)}"
        )
    annotations = template.get("metadata", {}).get("annotations", {})
    if annotations.get("run.googleapis.com/cpu-throttling") != "false":
        problems.append('GPUs need CPU always allocated (cpu-throttling: "false")')
    for container in holders:
        limits = container["resources"]["limits"]
        if str(limits["nvidia.com/gpu"]) != "1":
            problems.append(f'{container["name"]}: nvidia.com/gpu must be "1"')
        minimum_cpu, minimum_memory = CLOUD_RUN_GPU_MINIMUMS.get(accelerator or "", (0, 0))
        if (
            cpu(limits.get("cpu", 1)) < minimum_cpu
            or memory(limits.get("memory", "0")) < minimum_memory
        ):
            problems.append(
                f"{container['name']}: {accelerator} needs at least {minimum_cpu} CPU and "
                f"{minimum_memory // GiB} GiB"
            )
    return problems


def cloud_run_service_violations(service: Mapping[str, Any]) -> list[str]:
    """Everything above, plus the service-level ranges: ``containerConcurrency`` 1-1000
    ("About instance concurrency", https://cloud.google.com/run/docs/about-concurrency),
    request ``timeoutSeconds`` 1-3600 ("Set request timeout",
    https://cloud.google.com/run/docs/configuring/request-timeout) and a single ingress
    container, the only one with a port ("Deploy multiple containers to a service",
    https://cloud.google.com/run/docs/deploying#sidecars)."""
    template = service["spec"]["template"]
    spec = template["spec"]
    problems = google_label_violations(service["metadata"].get("labels", {}), "service")
    problems += google_label_violations(template.get("metadata", {}).get("labels", {}), "revision")
    if not _in(spec.get("containerConcurrency", 80), 1, 1000):
        problems.append(f"containerConcurrency {spec.get('containerConcurrency')} outside 1-1000")
    if not _in(spec.get("timeoutSeconds", 300), 1, 3600):
        problems.append(f"timeoutSeconds {spec.get('timeoutSeconds')} outside 1-3600")
    if len([c for c in spec["containers"] if c.get("ports")]) != 1:
        problems.append("exactly one container (the ingress one) may declare a port")
    for container in spec["containers"]:
        problems += cloud_run_probe_violations(container)
        problems += cloud_run_resource_violations(container)
    return problems + cloud_run_gpu_violations(template)


# --- Azure Container Apps --------------------------------------------------------------------

# Serverless GPU workload profiles: vCPU and memory per replica ("Workload profiles in Azure
# Container Apps", articles/container-apps/workload-profiles-overview.md).
AZURE_GPU_PROFILES = {
    "Consumption-GPU-NC8as-T4": (Decimal(8), 56 * GiB),
    "Consumption-GPU-NC24-A100": (Decimal(24), 220 * GiB),
}
_AZURE_MEMORY = re.compile(r"\d+(\.\d{1,2})?Gi")


def azure_probe_violations(container: Mapping[str, Any]) -> list[str]:
    """Container Apps probe limits, from the ``ContainerAppProbe`` definition of the ARM API
    (azure-rest-api-specs, ``Microsoft.App`` stable ``CommonDefinitions.json``):
    ``failureThreshold`` 1-10, ``initialDelaySeconds`` 1-60, ``periodSeconds`` 1-240,
    ``timeoutSeconds`` 1-240, ``successThreshold`` 1-10 and exactly 1 for liveness and
    startup; and "Health probes in Azure Container Apps" (learn.microsoft.com,
    ``health-probes``): TCP or HTTP(S) only, one probe of each type per container, numeric
    ports. The service has since accepted more failures for startup (240) and readiness (48)
    probes (terraform-provider-azurerm#31989, 2026), while the API definition and the portal
    still say 10: keeping to 10 is admitted by both.
    """
    name = container.get("name", "?")
    problems = []
    types = [probe.get("type", "") for probe in container.get("probes", [])]
    if len(types) != len({t.lower() for t in types}):
        problems.append(f"{name}: more than one probe of a type: {types}")
    for probe in container.get("probes", []):
        kind = probe.get("type", "")
        where = f"{name} {kind}"
        if kind.lower() not in ("liveness", "readiness", "startup"):
            problems.append(f"{where}: unknown probe type")
        handlers = {"httpGet", "tcpSocket"} & set(probe)
        if len(handlers) != 1 or {"exec", "grpc"} & set(probe):
            problems.append(f"{where}: exactly one of httpGet or tcpSocket")
        for handler in handlers:
            if not isinstance(probe[handler].get("port"), int):
                problems.append(f"{where}: the port must be a number")
        ranges = {
            "failureThreshold": (1, 10),
            "initialDelaySeconds": (1, 60),
            "periodSeconds": (1, 240),
            "timeoutSeconds": (1, 240),
            "successThreshold": (1, 10),
        }
        for field, (low, high) in ranges.items():
            if field in probe and not _in(probe[field], low, high):
                problems.append(f"{where}: {field} {probe[field]} outside {low}-{high}")
        if kind.lower() in ("liveness", "startup") and probe.get("successThreshold", 1) != 1:
            problems.append(f"{where}: successThreshold must be 1")
    return problems


def azure_resource_violations(containers: list[Mapping[str, Any]], profile: str) -> list[str]:
    """Container resources on a serverless GPU profile: CPU in cores with at most two decimals
    and memory in ``Gi`` with at most two ("Containers in Azure Container Apps",
    ``containers``, ``resources.cpu`` / ``resources.memory``); the containers together
    within the profile's vCPU and memory per replica ("Workload profiles in Azure Container
    Apps": NC8as-T4 8 vCPU and 56 GiB, NC24-A100 24 vCPU and 220 GiB)."""
    problems = []
    total_cpu, total_memory = Decimal(0), 0
    for container in containers:
        resources = container.get("resources", {})
        cores = Decimal(str(resources.get("cpu", "0.25")))
        if cores <= 0 or cores != cores.quantize(Decimal("0.01")):
            problems.append(f"{container.get('name')}: cpu {cores} not a positive 0.01 multiple")
        text = str(resources.get("memory", "0.5Gi"))
        if not _AZURE_MEMORY.fullmatch(text):
            problems.append(f"{container.get('name')}: memory {text!r} not N.NNGi")
        total_cpu += cores
        total_memory += memory(text) if _AZURE_MEMORY.fullmatch(text) else 0
    cores_max, memory_max = AZURE_GPU_PROFILES[profile]
    if total_cpu > cores_max or total_memory > memory_max:
        problems.append(
            f"{total_cpu} vCPU / {total_memory / GiB:g} GiB exceed {profile}'s "
            f"{cores_max} vCPU / {memory_max // GiB} GiB per replica"
        )
    return problems


def azure_gpu_container_violations(
    containers: list[Mapping[str, Any]], gpu_image: str
) -> list[str]:
    """ "Using serverless GPUs in Azure Container Apps" (``gpu-serverless-overview``): only one
    container in an app can use the GPU, and it is the first container in the app."""
    if not containers or gpu_image not in str(containers[0].get("image", "")):
        first = containers[0].get("name") if containers else None
        return [f"the first container ({first}) gets the GPU, not the one running {gpu_image}"]
    return []


# --- GKE Standard --------------------------------------------------------------------------

# Compute Engine's G2 machine types ("Accelerator-optimized machine family" > G2): vCPUs,
# memory in GB, L4 GPUs. Memory is taken as 10^9 bytes per GB: the smaller reading.
G2_MACHINES = {
    "g2-standard-4": (4, 16, 1),
    "g2-standard-8": (8, 32, 1),
    "g2-standard-12": (12, 48, 1),
    "g2-standard-16": (16, 64, 1),
}
# Room left for GKE's own DaemonSets on a GPU node (kube-proxy, logging and metrics agents,
# the NVIDIA device plugin...): our allowance, not a documented figure; `kubectl describe
# node` shows the real one.
DAEMONSET_ALLOWANCE = (Decimal("0.5"), 1 * GiB)


def gke_allocatable(vcpus: int, memory_bytes: int) -> tuple[Decimal, int]:
    """CPU and memory GKE leaves to pods on a Standard node ("Plan GKE Standard node sizes",
    https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes, memory and CPU
    reservations): memory reserves 25% of the first 4 GiB, 20% of the next 4, 10% of the
    next 8, 6% of the next 112 and 2% above 128, plus 100 MiB for eviction; CPU reserves 6%
    of the first core, 1% of the next, 0.5% of the next 2 and 0.25% above 4."""
    reserved, left = 0.0, float(memory_bytes)
    for size_gib, share in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02)):
        part = min(left, size_gib * GiB)
        reserved += part * share
        left -= part
    memory_left = int(memory_bytes - reserved - 100 * 1024**2)
    cpu_reserved = Decimal(0)
    for core in range(vcpus):
        cpu_reserved += Decimal(["0.06", "0.01", "0.005", "0.005"][core] if core < 4 else "0.0025")
    return Decimal(vcpus) - cpu_reserved, memory_left


def gpu_requests(container: Mapping[str, Any]) -> list[str]:
    """Extended resources such as ``nvidia.com/gpu`` are set as limits (requests, if given,
    must equal them) in whole units, and a container's GPUs are its own ("Schedule GPUs",
    https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/)."""
    resources = container.get("resources", {})
    limit = resources.get("limits", {}).get("nvidia.com/gpu")
    request = resources.get("requests", {}).get("nvidia.com/gpu")
    if limit is None:
        return [] if request is None else [f"{container['name']}: GPU requested without a limit"]
    problems = []
    if not str(limit).isdigit() or int(str(limit)) < 1:
        problems.append(f"{container['name']}: nvidia.com/gpu {limit!r} is not a whole number")
    if request is not None and str(request) != str(limit):
        problems.append(f"{container['name']}: GPU request {request} != limit {limit}")
    return problems


def pod_requests(template: Mapping[str, Any]) -> Iterator[tuple[Decimal, int]]:
    for container in template["spec"]["containers"]:
        requests = container.get("resources", {}).get("requests", {})
        yield cpu(requests.get("cpu", 0)), memory(requests.get("memory", 0))
