"""GitHub Actions: pinned actions, least privilege, approvals, and deploys that smoke-test
before they move traffic and roll back when anything fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import REPO, WORKFLOWS

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return workflow


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    job_steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return job_steps


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(?:- )?uses: (.+)$", line)
        if match and not match.group(1).startswith("./"):
            assert PINNED.match(match.group(1)), f"{path.name}: {match.group(1)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflows_default_to_read_only_and_checkout_keeps_no_credentials(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("name", ["deploy-cloudrun.yml", "deploy-k8s.yml"])
def test_deploys_need_production_approval_and_use_keyless_auth(name: str) -> None:
    workflow = load(name)
    job = workflow["jobs"]["deploy"]
    assert job["environment"]["name"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    for step in job["steps"]:
        if step.get("uses", "").startswith("google-github-actions/auth@"):
            assert "credentials_json" not in step["with"]  # no key files
            assert step["with"]["workload_identity_provider"]
    assert set(workflow["on"]) == {"workflow_call", "workflow_dispatch"}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def _index(job_steps: list[dict[str, Any]], needle: str) -> int:
    for index, step in enumerate(job_steps):
        if needle in step.get("name", "") or needle in step.get("run", ""):
            return index
    raise AssertionError(f"no step with {needle!r}")


def test_cloud_run_moves_traffic_only_after_the_candidate_passes_the_smoke_test() -> None:
    job_steps = steps(load("deploy-cloudrun.yml"), "deploy")
    deploy = _index(job_steps, "Deploy the new revision")
    smoke = _index(job_steps, "Smoke test the candidate")
    promote = _index(job_steps, 'update-traffic "$SERVICE"')
    live = _index(job_steps, "Smoke test the live URL")
    rollback = _index(job_steps, "Roll back")
    assert deploy < smoke < promote < live < rollback
    assert "scripts/smoke.py" in job_steps[smoke]["run"]
    assert "LIFTOFF_SMOKE_TOKEN" in job_steps[smoke]["env"]  # an identity token
    assert job_steps[rollback]["if"].startswith("failure()")
    assert "--cloud-run-revision" in job_steps[_index(job_steps, "render_deploy.py")]["run"]


def test_kubernetes_waits_for_rollouts_smoke_tests_and_rolls_back() -> None:
    job_steps = steps(load("deploy-k8s.yml"), "deploy")
    apply = _index(job_steps, "kubectl apply -f manifests.yaml")
    rollout = _index(job_steps, "rollout status deployment/api")
    smoke = _index(job_steps, "scripts/smoke.py")
    rollback = _index(job_steps, "rollout undo deployment/api")
    assert apply < rollout < smoke < rollback
    assert job_steps[rollback]["if"].startswith("failure()")


def test_images_are_built_with_cache_sbom_and_provenance_and_tagged_by_sha_and_release() -> None:
    workflow = load("images.yml")
    job_steps = steps(workflow, "build")
    build = next(s for s in job_steps if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["cache-from"].startswith("type=gha")
    assert build["with"]["cache-to"].startswith("type=gha")
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    meta = next(s for s in job_steps if s.get("uses", "").startswith("docker/metadata-action@"))
    assert "type=sha,format=long" in meta["with"]["tags"]
    assert "type=semver,pattern={{version}}" in meta["with"]["tags"]
    names = next(s for s in job_steps if s.get("id") == "names")["run"]
    assert "ghcr.io/" in names and "GAR_REPOSITORY" in names  # GHCR and Artifact Registry
    assert workflow["jobs"]["build"]["permissions"]["packages"] == "write"
    for deploy in ("deploy-cloudrun", "deploy-k8s"):
        job = workflow["jobs"][deploy]
        assert job["needs"] == "build" and "refs/heads/main" in job["if"]
        assert job["with"]["image_tag"] == "sha-${{ github.sha }}"


def test_ci_runs_the_documented_make_targets_and_they_exist() -> None:
    workflow = load("ci.yml")
    targets = {
        step["run"].removeprefix("make ")
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("run", "").startswith("make ")
    }
    assert targets == {"lint", "test", "validate", "eval"}
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no `make {target}`"
