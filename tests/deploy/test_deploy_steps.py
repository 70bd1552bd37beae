"""The deploy workflows' shell steps, run for real with fake ``gcloud``/``kubectl``: secrets
checked before the cluster is touched and never on a command line, each overlay's own model
kept unless one is asked for, and a Cloud Run "first deploy" only when the service is really
absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy import workflow_steps
from tests.deploy.workflow_steps import StepResult, job_env, run_step, step, step_env
from tests.fakes.cli import FakeCli, Rule

K8S = "deploy-k8s.yml"
CLOUD_RUN = "deploy-cloudrun.yml"


def _run(
    tmp_path: Path,
    workflow: str,
    name: str,
    *,
    variables: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    steps: dict[str, str] | None = None,
    fakes: FakeCli | None = None,
) -> StepResult:
    contexts = {
        "vars": variables or {},
        "secrets": secrets or {},
        "inputs": {"image_tag": "sha-1", **(inputs or {})},
        "steps": steps or {},
        "github": {"run_id": "4242", "run_attempt": "1"},
    }
    found = step(workflow, "deploy", name)
    env = {**job_env(workflow, "deploy", contexts), **step_env(found, contexts)}
    fakes = fakes or FakeCli(tmp_path / "fakes")
    return run_step(found, env, fakes=fakes.directory, workdir=tmp_path / "work")


# --- Kubernetes: which model, which secrets -------------------------------------------


@pytest.mark.parametrize(
    ("overlay", "variables", "model", "gpu"),
    [
        ("cpu", {}, "llama3.2:1b", "false"),  # the overlay's small model, not the GPU one
        ("gke-gpu", {}, "llama3.1:8b", "true"),
        ("cpu", {"K8S_MODEL": "qwen2.5:0.5b"}, "qwen2.5:0.5b", "false"),
        # OLLAMA_MODEL is what the Cloud Run image bakes; it must not leak into Kubernetes.
        ("cpu", {"OLLAMA_MODEL": "llama3.1:70b"}, "llama3.2:1b", "false"),
    ],
)
def test_k8s_render_keeps_the_overlays_model_unless_one_is_asked_for(
    tmp_path: Path, overlay: str, variables: dict[str, str], model: str, gpu: str
) -> None:
    result = _run(
        tmp_path, K8S, "Render the overlay", variables={"K8S_OVERLAY": overlay, **variables}
    )
    assert result.returncode == 0, result.log
    assert result.outputs == {"model": model, "gpu": gpu}
    rendered = (tmp_path / "work" / "manifests.yaml").read_text(encoding="utf-8")
    assert f"LIFTOFF_MODEL: {model}" in rendered


GOOD = {
    "LIFTOFF_API_KEYS": "sk-gateway-one, sk-gateway-two",
    "LIFTOFF_EVAL_API_KEYS": "sk-eval-one",
}


@pytest.mark.parametrize(
    ("secrets", "named"),
    [
        ({**GOOD, "LIFTOFF_API_KEYS": ""}, "LIFTOFF_API_KEYS is empty"),
        ({**GOOD, "LIFTOFF_API_KEYS": " , ,"}, "LIFTOFF_API_KEYS is empty"),
        ({**GOOD, "LIFTOFF_EVAL_API_KEYS": ""}, "LIFTOFF_EVAL_API_KEYS is empty"),
        (
            {**GOOD, "LIFTOFF_EVALUATION_API_KEY": "sk-not-a-gateway-key"},
            "LIFTOFF_EVALUATION_API_KEY is not one of LIFTOFF_API_KEYS",
        ),
    ],
    ids=["no-gateway-keys", "blank-gateway-keys", "no-eval-keys", "evaluation-key-unknown"],
)
def test_k8s_deploy_stops_on_an_empty_or_wrong_secret_naming_it(
    tmp_path: Path, secrets: dict[str, str], named: str
) -> None:
    result = _run(tmp_path, K8S, "Check the secrets", secrets=secrets)
    assert result.returncode == 1, result.log
    assert named in result.stdout
    for value in secrets.values():  # names, never values
        if value.strip(" ,"):
            assert value not in result.stdout + result.stderr


def test_k8s_secret_check_comes_before_anything_touches_the_cluster() -> None:
    names = [s.get("name", "") for s in workflow_steps.load(K8S)["jobs"]["deploy"]["steps"]]
    check = next(i for i, n in enumerate(names) if n.startswith("Check the secrets"))
    credentials = next(i for i, n in enumerate(names) if "Authenticate" in n)
    assert check < credentials


def test_k8s_secret_check_passes_good_secrets(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        K8S,
        "Check the secrets",
        secrets={**GOOD, "LIFTOFF_EVALUATION_API_KEY": "sk-gateway-two"},
    )
    assert result.returncode == 0, result.log


def test_k8s_secrets_reach_the_cluster_through_files_never_the_command_line(
    tmp_path: Path,
) -> None:
    fakes = FakeCli(tmp_path / "fakes")
    fakes.add("kubectl")
    result = _run(tmp_path, K8S, "Namespace and secrets", secrets=GOOD, fakes=fakes)
    assert result.returncode == 0, result.log
    creates = [c for c in fakes.calls("kubectl") if "generic" in c.argv]
    by_name = {c.argv[c.argv.index("generic") + 1]: c for c in creates}
    assert set(by_name) == {"liftoff-api-keys", "liftoff-evaluation", "liftoff-retrieval"}
    for call in creates:
        assert not any(secret in " ".join(call.argv) for secret in ("sk-gateway", "sk-eval"))

    def stored(call: object) -> dict[str, str]:
        argv, files = call.argv, call.files  # type: ignore[attr-defined]
        pairs = [a.removeprefix("--from-file=").split("=", 1) for a in argv if "--from-file=" in a]
        return {key: files[path] for key, path in pairs}

    # Without a Redis URL each gateway limits on its own.
    assert stored(by_name["liftoff-api-keys"]) == {
        "LIFTOFF_API_KEYS": GOOD["LIFTOFF_API_KEYS"],
        "LIFTOFF_REDIS_URL": "",
    }
    # The evaluation service's key to the gateway defaults to the first gateway key; without
    # a database URL its runs stay on a PVC.
    assert stored(by_name["liftoff-evaluation"]) == {
        "OPENAI_API_KEY": "sk-gateway-one",
        "LIFTOFF_EVAL_API_KEYS": "sk-eval-one",
        "LIFTOFF_EVAL_DATABASE_URL": "",
    }
    # So does the retrieval service's; without a database URL its index stays on a PVC.
    assert stored(by_name["liftoff-retrieval"]) == {
        "OPENAI_API_KEY": "sk-gateway-one",
        "LIFTOFF_RAG_DATABASE_URL": "",
    }
    assert not list((tmp_path / "work").glob("tmp*"))  # the files are gone


def test_k8s_retrieval_database_url_reaches_its_secret_through_a_file(tmp_path: Path) -> None:
    fakes = FakeCli(tmp_path / "fakes")
    fakes.add("kubectl")
    url = "postgresql://rag:pg-secret-pass@10.0.0.5/liftoff"
    secrets = {**GOOD, "LIFTOFF_RAG_DATABASE_URL": url}
    result = _run(tmp_path, K8S, "Namespace and secrets", secrets=secrets, fakes=fakes)
    assert result.returncode == 0, result.log
    (call,) = [c for c in fakes.calls("kubectl") if "liftoff-retrieval" in c.argv]
    assert "pg-secret-pass" not in " ".join(call.argv)
    pairs = [a.removeprefix("--from-file=").split("=", 1) for a in call.argv if "--from-file=" in a]
    assert {key: call.files[path] for key, path in pairs} == {
        "OPENAI_API_KEY": "sk-gateway-one",
        "LIFTOFF_RAG_DATABASE_URL": url,
    }


def test_k8s_evaluation_database_and_redis_urls_reach_their_secrets_through_files(
    tmp_path: Path,
) -> None:
    fakes = FakeCli(tmp_path / "fakes")
    fakes.add("kubectl")
    database = "postgresql://eval:pg-eval-pass@10.0.0.6/liftoff"
    redis = "rediss://:redis-auth-pass@10.0.0.7:6378/0"
    secrets = {**GOOD, "LIFTOFF_EVAL_DATABASE_URL": database, "LIFTOFF_REDIS_URL": redis}
    result = _run(tmp_path, K8S, "Namespace and secrets", secrets=secrets, fakes=fakes)
    assert result.returncode == 0, result.log
    calls = {name: c for c in fakes.calls("kubectl") if "generic" in c.argv
             for name in [c.argv[c.argv.index("generic") + 1]]}  # fmt: skip
    for name, key, value in (("liftoff-evaluation", "LIFTOFF_EVAL_DATABASE_URL", database),
                             ("liftoff-api-keys", "LIFTOFF_REDIS_URL", redis)):  # fmt: skip
        call = calls[name]
        assert "pg-eval-pass" not in " ".join(call.argv)
        assert "redis-auth-pass" not in " ".join(call.argv)
        pairs = [a.removeprefix("--from-file=").split("=", 1) for a in call.argv
                 if "--from-file=" in a]  # fmt: skip
        assert {k: call.files[path] for k, path in pairs}[key] == value


# --- Cloud Run: the revision serving now ------------------------------------------------


def _service(traffic: list[dict[str, object]]) -> str:
    return json.dumps({"metadata": {"name": "liftoff"}, "status": {"traffic": traffic}})


CLOUD_RUN_VARS = {"GCP_PROJECT_ID": "p", "GCP_REGION": "us-central1"}


def _current(tmp_path: Path, rules: list[Rule]) -> tuple[StepResult, FakeCli]:
    fakes = FakeCli(tmp_path / "fakes")
    fakes.add("gcloud", rules)
    result = _run(
        tmp_path,
        CLOUD_RUN,
        "Find the revision serving now",
        variables=CLOUD_RUN_VARS,
        inputs={"model": "llama3.1:8b"},
        fakes=fakes,
    )
    return result, fakes


def test_cloud_run_first_deploy_only_when_the_service_is_absent(tmp_path: Path) -> None:
    result, fakes = _current(tmp_path, [Rule(["list"], stdout="")])
    assert result.returncode == 0, result.log
    assert result.outputs == {"revision": ""}
    (call,) = fakes.calls("gcloud")
    assert call.argv[:3] == ["run", "services", "list"]
    assert "--filter=metadata.name=liftoff" in call.argv


def test_cloud_run_deploy_stops_when_the_service_cannot_be_read(tmp_path: Path) -> None:
    denied = "ERROR: (gcloud.run.services.list) PERMISSION_DENIED: Permission denied\n"
    result, _ = _current(
        tmp_path,
        [Rule(["list"], stderr=denied, exit=1), Rule(["describe"], stderr=denied, exit=1)],
    )
    assert result.returncode != 0, result.log
    assert "PERMISSION_DENIED" in result.stderr
    assert "first deploy" not in result.stdout


def test_cloud_run_keeps_the_revision_serving_all_traffic(tmp_path: Path) -> None:
    service = _service([{"revisionName": "liftoff-7-1", "percent": 100}])
    result, _ = _current(
        tmp_path, [Rule(["list"], stdout="liftoff\n"), Rule(["describe"], stdout=service)]
    )
    assert result.returncode == 0, result.log
    assert result.outputs == {"revision": "liftoff-7-1"}


def test_cloud_run_deploy_stops_on_a_split_it_did_not_make(tmp_path: Path) -> None:
    """A split (a rollout stopped half-way by hand) has no revision to return to: treating
    it as a first deploy would send all traffic to an untested revision."""
    service = _service(
        [
            {"revisionName": "liftoff-7-1", "percent": 50},
            {"revisionName": "liftoff-8-1", "percent": 50},
        ]
    )
    result, _ = _current(
        tmp_path, [Rule(["list"], stdout="liftoff\n"), Rule(["describe"], stdout=service)]
    )
    assert result.returncode == 1, result.log
    assert "no revision of liftoff serves 100% of traffic" in result.stdout
