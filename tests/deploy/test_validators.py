"""Every deploy file through the validator its ecosystem trusts, offline.

hadolint (Dockerfiles), check-jsonschema (compose-spec, GitHub workflow schema, the vendored
Dev Container schema), actionlint and zizmor --offline (workflows), and ``kubectl kustomize``
piped to ``kubernetes-validate --strict`` (every overlay). A validator that is not installed
fails its test: none of these may pass by not running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.deploy import manifests
from tests.deploy.tools import (
    COMPOSE_FILE,
    DEVCONTAINER,
    DOCKERFILES,
    OVERLAYS,
    REPO,
    SCHEMAS,
    WORKFLOWS,
    explain,
    run,
    validator,
)


def _id(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_deploy_files_are_all_there() -> None:
    assert [_id(path) for path in DOCKERFILES] == [
        "images/api/Dockerfile",
        "images/evaluation/Dockerfile",
        "images/ollama/Dockerfile",
        "images/retrieval/Dockerfile",
        "images/ui/Dockerfile",
    ]
    assert {path.name for path in WORKFLOWS} >= {
        "ci.yml",
        "images.yml",
        "deploy-cloudrun.yml",
        "deploy-k8s.yml",
    }
    assert OVERLAYS == ["cpu", "gke-gpu"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_id)
def test_hadolint_passes(dockerfile: Path) -> None:
    # Default threshold: even an `info` finding fails.
    result = run([validator("hadolint"), "--no-color", str(dockerfile)])
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize(
    "compose_file",
    [COMPOSE_FILE, DEVCONTAINER / "compose.yml"],
    ids=_id,
)
def test_compose_file_matches_the_compose_spec(compose_file: Path) -> None:
    command = [validator("check-jsonschema"), "--builtin-schema", "vendor.compose-spec"]
    result = run([*command, str(compose_file)])
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=_id)
def test_workflow_matches_the_github_workflow_schema(workflow: Path) -> None:
    command = [validator("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    result = run([*command, str(workflow)])
    assert result.returncode == 0, explain(result)


def test_dependabot_config_matches_its_schema() -> None:
    command = [validator("check-jsonschema"), "--builtin-schema", "vendor.dependabot"]
    result = run([*command, str(REPO / ".github" / "dependabot.yml")])
    assert result.returncode == 0, explain(result)


def test_devcontainer_matches_the_vendored_dev_container_schema() -> None:
    schema = SCHEMAS / "devContainer.base.schema.json"
    result = run(
        [
            validator("check-jsonschema"),
            "--schemafile",
            str(schema),
            str(DEVCONTAINER / "devcontainer.json"),
        ]
    )
    assert result.returncode == 0, explain(result)


def test_actionlint_passes_on_every_workflow() -> None:
    result = run([validator("actionlint"), "-no-color", *map(str, WORKFLOWS)])
    assert result.returncode == 0, explain(result)


def test_zizmor_offline_finds_nothing_in_workflows_and_dependabot() -> None:
    # The repository root: workflows and the Dependabot configuration.
    result = run([validator("zizmor"), "--offline", "--no-progress", str(REPO)])
    assert result.returncode == 0, explain(result)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_passes_kubernetes_validate_strict(overlay: str) -> None:
    rendered = manifests.render_text(f"overlays/{overlay}")
    result = run([validator("kubernetes-validate"), "--strict", "--quiet", "-"], input=rendered)
    assert result.returncode == 0, explain(result)
    assert len(manifests.render(f"overlays/{overlay}")) >= 15  # stdin was really read


def test_cloud_run_service_renders_and_its_pod_passes_kubernetes_validate_strict() -> None:
    """Knative's Service has no schema here, but its revision template is a Kubernetes pod
    spec (Cloud Run accepts a subset): validated strictly as a Pod, minus Knative's own
    `containerConcurrency` and `timeoutSeconds`."""
    (service,) = manifests.render("cloudrun")
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["kind"] == "Service"
    template = service["spec"]["template"]
    spec = {
        key: value
        for key, value in template["spec"].items()
        if key not in ("containerConcurrency", "timeoutSeconds")
    }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "liftoff"}, "spec": spec}
    result = run(
        [validator("kubernetes-validate"), "--strict", "--quiet", "-"], input=yaml.safe_dump(pod)
    )
    assert result.returncode == 0, explain(result)


def test_vendored_dev_container_schema_is_the_upstream_json_schema() -> None:
    schema = json.loads((SCHEMAS / "devContainer.base.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "composeContainer" in schema["definitions"]
    assert (SCHEMAS / "NOTICE.md").is_file()
