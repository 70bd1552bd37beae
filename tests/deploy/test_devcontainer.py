"""The Dev Container: on the Compose stack, the profile picked from the host's GPU, the
stack's ports forwarded from the services that listen on them."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy import compose
from tests.deploy.tools import COMPOSE_FILE, DEVCONTAINER, explain, run, validator

KEYS = {"LIFTOFF_API_KEYS": "k", "LIFTOFF_EVAL_API_KEYS": "ek"}
CONFIG = json.loads((DEVCONTAINER / "devcontainer.json").read_text(encoding="utf-8"))


def _select_profile(
    tmp_path: Path, gpu: bool | None, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Runs select-profile.sh from a copy of .devcontainer, with or without an nvidia-smi."""
    copy = tmp_path / ".devcontainer"
    copy.mkdir(parents=True)
    script = copy / "select-profile.sh"
    script.write_text((DEVCONTAINER / "select-profile.sh").read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    if gpu is not None:
        fake = bin_dir / "nvidia-smi"
        fake.write_text(f"#!/bin/sh\nexit {0 if gpu else 9}\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = f"{bin_dir}:/usr/bin:/bin"
    result = run(["sh", str(script)], env={"PATH": path, **env})
    return result, copy / "compose.profile.yml"


@pytest.mark.parametrize(
    ("gpu", "profile"),
    [(True, "gpu"), (False, "cpu"), (None, "cpu")],
    ids=["gpu", "broken-driver", "no-gpu"],
)
def test_initialize_command_picks_the_profile_from_the_hosts_gpu(
    tmp_path: Path, gpu: bool | None, profile: str
) -> None:
    result, written = _select_profile(tmp_path, gpu)
    assert result.returncode == 0, explain(result)
    assert f"profile '{profile}'" in result.stdout
    check = run(
        [validator("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(written)]
    )
    assert check.returncode == 0, explain(check)
    project = compose.load(COMPOSE_FILE, DEVCONTAINER / "compose.yml", written, env=KEYS)
    assert project.services["dev"].profiles == {profile}


def test_initialize_command_honours_an_explicit_profile_and_rejects_others(tmp_path: Path) -> None:
    result, written = _select_profile(tmp_path, True, LIFTOFF_DEVCONTAINER_PROFILE="cpu")
    assert result.returncode == 0 and "[cpu]" in written.read_text()
    result, _ = _select_profile(tmp_path / "x", True, LIFTOFF_DEVCONTAINER_PROFILE="tpu")
    assert result.returncode == 2 and "must be gpu or cpu" in result.stderr


def test_devcontainer_runs_on_the_compose_stack() -> None:
    assert CONFIG["dockerComposeFile"] == [
        "../docker-compose.yml",
        "compose.yml",
        "compose.profile.yml",
    ]
    assert CONFIG["initializeCommand"] == "sh .devcontainer/select-profile.sh"
    assert CONFIG["service"] == "dev" and CONFIG["runServices"] == ["dev"]
    assert "make setup" in CONFIG["postCreateCommand"]  # Python, uv and the project
    assert "compose.profile.yml" in (DEVCONTAINER / ".gitignore").read_text()


@pytest.mark.parametrize("profile", ["gpu", "cpu"])
def test_dev_service_waits_on_the_stack_and_forwards_ports_that_answer(
    tmp_path: Path, profile: str
) -> None:
    _, written = _select_profile(tmp_path, profile == "gpu")
    project = compose.load(COMPOSE_FILE, DEVCONTAINER / "compose.yml", written, env=KEYS)
    enabled = {service.name: service for service in project.enabled(profile)}
    dev = enabled["dev"]
    waited = [name for name in dev.spec["depends_on"] if name in enabled]
    assert "evaluation" in waited and f"api-{profile}" in waited
    assert dev.spec["healthcheck"]["test"][0] == "CMD"
    forwarded = [entry.split(":") for entry in CONFIG["forwardPorts"]]
    assert [int(port) for _, port in forwarded] == [8000, 8001]
    for host, port in forwarded:
        (target,) = [s for s in enabled.values() if host in s.aliases]
        assert int(port) in target.listens_on
    for host, port in dev.urls():
        assert any(host in s.aliases and port in s.listens_on for s in enabled.values())


def test_devcontainer_workspace_mount_matches_the_workspace_folder() -> None:
    raw = compose.load_raw(DEVCONTAINER / "compose.yml")
    assert raw["services"]["dev"]["volumes"] == ["..:/workspaces:cached"]
    assert CONFIG["workspaceFolder"] == "/workspaces/${localWorkspaceFolderBasename}"
