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
    gpu = _index(job_steps, "Check that Ollama runs on the GPU")
    live = _index(job_steps, "Smoke test the live URL")
    rollback = _index(job_steps, "Roll back")
    assert deploy < smoke < gpu < promote < live < rollback
    assert "scripts/smoke.py" in job_steps[smoke]["run"]
    assert "LIFTOFF_SMOKE_TOKEN" in job_steps[smoke]["env"]  # an identity token
    assert job_steps[rollback]["if"].startswith("(failure() || cancelled())")
    assert "--cloud-run-revision" in job_steps[_index(job_steps, "render_deploy.py")]["run"]


def test_kubernetes_waits_for_rollouts_smoke_tests_and_rolls_back() -> None:
    job_steps = steps(load("deploy-k8s.yml"), "deploy")
    apply = _index(job_steps, "kubectl apply -f manifests.yaml")
    rollout = _index(job_steps, "rollout status deployment/api")
    smoke = _index(job_steps, "scripts/smoke.py")
    rollback = _index(job_steps, "rollout undo deployment/api")
    assert apply < rollout < smoke < rollback
    assert job_steps[rollback]["if"].startswith("(failure() || cancelled())")


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


# --- What the reusable deploy workflows receive -------------------------------------------

SECRET_REF = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")
VAR_REF = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")
REUSABLE = ("deploy-cloudrun.yml", "deploy-k8s.yml")


@pytest.mark.parametrize("name", REUSABLE)
def test_reusable_deploys_declare_every_secret_they_read(name: str) -> None:
    """A called workflow sees no secret unless it declares it (``on.workflow_call.secrets``)
    and its caller passes it, by name or with ``secrets: inherit``; GitHub docs, "Reusing
    workflows" > "Using inputs and secrets in a reusable workflow". An undeclared
    ``secrets.X`` reads as empty when called, and worked only when dispatched by hand."""
    workflow = load(name)
    read = set(SECRET_REF.findall((REPO / ".github" / "workflows" / name).read_text()))
    declared = set(workflow["on"]["workflow_call"].get("secrets") or {})
    assert read == declared, f"{name}: reads {sorted(read)}, declares {sorted(declared)}"


def test_images_workflow_passes_each_deploy_the_secrets_it_declares_by_name() -> None:
    """Passed by name, not ``secrets: inherit`` (every secret to the callee; zizmor's
    ``secrets-inherit`` audit). A name mapped in a job with no environment still resolves
    from the called job's ``environment: production`` when only the environment holds it
    (GitHub docs, "Reusing workflows": environment secrets are read in the called workflow's
    job that names the environment)."""
    caller = load("images.yml")["jobs"]
    for job, name in (("deploy-cloudrun", "deploy-cloudrun.yml"), ("deploy-k8s", "deploy-k8s.yml")):
        declared = set(load(name)["on"]["workflow_call"].get("secrets") or {})
        passed = caller[job].get("secrets") or {}
        assert passed != "inherit"
        assert set(passed) == declared, job
        for secret, value in passed.items():
            assert value == "${{ secrets." + secret + " }}"


def _documented_variables() -> dict[str, str]:
    """variable -> "set at" column of docs/deploy.md's variables table."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = text.split("| variable | set at |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|") for line in table.splitlines()[2:] if line.startswith("| `")]
    found = {}
    for row in rows:
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[1]):
            found[name] = row[2].strip()
    return found


def test_variables_read_outside_the_production_environment_are_repository_variables() -> None:
    """Environment variables (``vars``) reach only jobs that name the environment; GitHub
    docs, "Store information in variables" > "Creating configuration variables for an
    environment". The image build and the calls into the deploy workflows run outside
    ``production``, so what they read must be a repository (or organization) variable, and
    the docs must say so rather than "repository or environment"."""
    documented = _documented_variables()
    used: dict[str, bool] = {}  # name -> read somewhere outside the environment
    for path in WORKFLOWS:
        workflow = load(path.name)
        for job in workflow["jobs"].values():
            outside = "environment" not in job
            for name in VAR_REF.findall(yaml.safe_dump(job)):
                used[name] = used.get(name, False) or outside
    assert set(used) == set(documented), "documented variables differ from those read"
    for name, outside in used.items():
        if outside:
            assert documented[name] == "repository", f"{name} is read outside production"
        else:
            assert documented[name] in ("repository", "repository or production environment")


def test_cloud_run_serves_the_model_its_ollama_image_was_built_with() -> None:
    """The build bakes ``MODEL`` into liftoff-ollama; the deploy's ``model`` input comes from
    the same expression in the same (repository) scope, never re-read in ``production``."""
    images = load("images.yml")
    (ollama,) = [
        row
        for row in images["jobs"]["build"]["strategy"]["matrix"]["include"]
        if row["image"] == "ollama"
    ]
    baked = ollama["build-args"].split("||", 1)[1].strip(" }")
    passed = images["jobs"]["deploy-cloudrun"]["with"]["model"]
    assert passed == "${{ " + baked + " }}"
    deploy = load("deploy-cloudrun.yml")
    assert deploy["jobs"]["deploy"]["env"]["MODEL"] == "${{ inputs.model }}"
    text = (REPO / ".github" / "workflows" / "deploy-cloudrun.yml").read_text(encoding="utf-8")
    assert "OLLAMA_MODEL" not in text


@pytest.mark.parametrize("name", REUSABLE)
def test_rollback_runs_on_failure_and_on_cancellation(name: str) -> None:
    """A run cancelled (by hand, or by ``timeout-minutes``) after traffic moved must still
    roll back: ``if: failure()`` alone skips the step then; ``cancelled()`` covers it (GitHub
    docs, "Expressions" > "Status check functions")."""
    (rollback,) = [s for s in steps(load(name), "deploy") if s.get("name", "").startswith("Roll")]
    assert "failure()" in rollback["if"] and "cancelled()" in rollback["if"]


@pytest.mark.parametrize("name", REUSABLE)
def test_smoke_tests_ask_for_the_deployed_model(name: str) -> None:
    """``GET /v1/models`` lists every model Ollama holds (a volume keeps earlier ones), so
    the first one listed is not necessarily the one this deploy serves."""
    smokes = [s for s in steps(load(name), "deploy") if "scripts/smoke.py" in s.get("run", "")]
    assert smokes
    for smoke in smokes:
        assert '--model "$' in smoke["run"], smoke["name"]


def test_kubernetes_smoke_test_says_it_runs_after_traffic_moved() -> None:
    smoke = next(
        s for s in steps(load("deploy-k8s.yml"), "deploy") if "smoke.py" in s.get("run", "")
    )
    assert "after the rollout" in smoke["name"]
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "after the new pods already serve" in docs


@pytest.mark.parametrize(
    ("name", "require"),
    [("deploy-k8s.yml", '"$GPU" = true'), ("deploy-cloudrun.yml", "--require-gpu")],
)
def test_deploys_check_that_ollama_runs_on_the_gpu(name: str, require: str) -> None:
    runs = "\n".join(s.get("run", "") for s in steps(load(name), "deploy"))
    assert require in runs and "--require-gpu" in runs
