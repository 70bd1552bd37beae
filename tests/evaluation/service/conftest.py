"""The evaluation service as a real uvicorn process, and a real gateway for it to call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess

MODEL = "gemma-3-270m-q4_k_m"


def service_env(store: Path, target: str = "http://127.0.0.1:9/v1", **extra: str) -> dict[str, str]:
    """Environment of an evaluation service keeping runs in ``store`` and calling ``target``."""
    return {"LIFTOFF_EVAL_STORE": str(store), "LIFTOFF_EVAL_TARGET": target, **extra}


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the Prometheus samples ``name`` whose labels include ``labels``."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.split("{")[0].split(" ")[0] != name:
            continue
        sample = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(sample.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    if not found:
        raise AssertionError(f"{name} {labels} not in metrics")
    return total


@pytest.fixture(scope="package")
def gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    """The generation gateway serving the embedded Gemma 3 270M."""
    with ServerProcess("liftoff.api.main:app", {"LIFTOFF_MODEL": str(gguf_path)}) as server:
        yield server
