"""The images: what they copy exists, what they install is the service's own locked extra, what
they run imports, and nothing runs as root or needs curl."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import compose, dockerfiles
from tests.deploy.tools import COMPOSE_FILE, REPO, explain, run, uv

IMAGES_WORKFLOW = REPO / ".github" / "workflows" / "images.yml"
MIN_OLLAMA = (0, 17, 1)  # fixed CVE-2026-7482 (heap read through /api/create)


def build_matrix() -> dict[str, tuple[Path, Path]]:
    """image -> (context, Dockerfile) as images.yml builds it."""
    workflow = yaml.safe_load(IMAGES_WORKFLOW.read_text(encoding="utf-8"))
    include = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
    return {row["image"]: (REPO / row["context"], REPO / row["file"]) for row in include}


MATRIX = build_matrix()


def test_images_workflow_builds_every_dockerfile() -> None:
    built = sorted(str(file.relative_to(REPO)) for _, file in MATRIX.values())
    assert built == [
        "images/api/Dockerfile",
        "images/evaluation/Dockerfile",
        "images/ollama/Dockerfile",
        "images/retrieval/Dockerfile",
    ]


def test_compose_builds_with_the_same_context_and_dockerfile_as_ci() -> None:
    project = compose.load(COMPOSE_FILE, env={"LIFTOFF_API_KEYS": "k"})
    for service in project.services.values():
        build = service.spec.get("build")
        if build:
            image = build["dockerfile"].split("/")[1]  # images/<image>/Dockerfile
            context, file = MATRIX[image]
            assert (REPO / build["context"]).resolve() == context.resolve()
            assert (REPO / build["context"] / build["dockerfile"]).resolve() == file.resolve()


def _dockerignored(path: str) -> bool:
    patterns = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) for prefix in prefixes):
            ignored = not negated
    return ignored


@pytest.mark.parametrize("image", sorted(MATRIX))
def test_every_copy_source_exists_in_the_build_context(image: str) -> None:
    context, file = MATRIX[image]
    for source in dockerfiles.parse(file).copy_sources():
        assert (context / source).exists(), f"{file}: COPY {source} is not in {context}"
        if context == REPO:
            assert not _dockerignored(source), f"{file}: COPY {source} is in .dockerignore"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    for path in (".git", ".venv", ".env", "tests", "liftoff/api/__pycache__/x.pyc"):
        assert _dockerignored(path), path
    for path in ("liftoff/api/app.py", "uv.lock", "pyproject.toml", "README.md"):
        assert not _dockerignored(path), path


@pytest.mark.parametrize("image", sorted(MATRIX))
def test_image_runs_as_a_numeric_non_root_user(image: str) -> None:
    users = dockerfiles.parse(MATRIX[image][1]).final.all("USER")
    assert users, f"{image} runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


@pytest.mark.parametrize("image", sorted(MATRIX))
def test_healthcheck_needs_no_curl(image: str) -> None:
    parsed = dockerfiles.parse(MATRIX[image][1])
    (healthcheck,) = parsed.final.all("HEALTHCHECK")
    assert "CMD" in healthcheck
    assert not re.search(r"\b(curl|wget)\b", MATRIX[image][1].read_text(encoding="utf-8"))


@pytest.mark.parametrize("image", sorted(MATRIX))
def test_base_images_are_pinned(image: str) -> None:
    for stage in dockerfiles.parse(MATRIX[image][1]).stages:
        name, _, tag = stage.base.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"{image}: FROM {stage.base} is not pinned"
        if stage.base.startswith("python:"):
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", stage.base)


def _ollama_versions() -> dict[str, str]:
    ollama = dockerfiles.parse(REPO / "images" / "ollama" / "Dockerfile").final.base
    compose_default = re.search(
        r"ollama/ollama:\$\{OLLAMA_VERSION:-([\d.]+)\}", COMPOSE_FILE.read_text(encoding="utf-8")
    )
    base = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    (k8s,) = [image["newTag"] for image in base["images"] if image["name"] == "ollama/ollama"]
    assert compose_default is not None
    return {
        "images/ollama/Dockerfile": ollama.split(":")[1],
        "docker-compose.yml": compose_default.group(1),
        "k8s/base": str(k8s),
        ".env.example": compose.env_example()["OLLAMA_VERSION"],
    }


def test_ollama_is_one_release_everywhere_with_the_published_security_fixes() -> None:
    versions = _ollama_versions()
    assert len(set(versions.values())) == 1, versions
    version = tuple(int(part) for part in next(iter(versions.values())).split("."))
    assert version >= MIN_OLLAMA


def test_ollama_image_bakes_the_model_given_as_build_argument() -> None:
    parsed = dockerfiles.parse(REPO / "images" / "ollama" / "Dockerfile")
    assert "MODEL=llama3.1:8b" in parsed.final.all("ARG")
    assert parsed.env()["OLLAMA_KEEP_ALIVE"] == "-1"
    assert any('ollama pull "${MODEL}"' in run_ for run_ in parsed.final.all("RUN"))
    assert parsed.final.all("ENTRYPOINT") == ['["/bin/ollama"]']


EXTRAS = {"api": "api", "evaluation": "evaluation"}


@pytest.mark.parametrize("image", sorted(EXTRAS))
def test_image_installs_only_its_own_extra_from_the_lock_file(image: str) -> None:
    syncs = dockerfiles.parse(MATRIX[image][1]).uv_syncs()
    assert syncs, f"{image} does not install with uv sync"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args
        extras = [args[i + 1] for i, arg in enumerate(args) if arg == "--extra"]
        assert extras == [EXTRAS[image]], f"{image} installs extras {extras}"
        assert "--all-extras" not in args and "--all-groups" not in args


# What each image's command imports, and what it must not carry.
COMMAND_CHECKS = {
    "api": (["import liftoff.api.main, liftoff.cli"], ["xllamacpp", "sacrebleu", "nltk"]),
    "evaluation": (
        ["import liftoff.evaluation.main", "import liftoff.evaluation.wordnet"],
        ["xllamacpp", "ollama"],
    ),
}


@pytest.mark.parametrize("image", sorted(EXTRAS))
def test_image_environment_installs_from_the_lock_and_its_command_imports(
    image: str, tmp_path: Path
) -> None:
    """Runs the image's final `uv sync` into a fresh environment (as the build does), then
    imports what its CMD runs there, with the image's ENV."""
    parsed = dockerfiles.parse(MATRIX[image][1])
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    synced = run([*uv(), "sync", *parsed.uv_syncs()[-1], "--quiet"], env=env)
    assert synced.returncode == 0, explain(synced)

    image_env = {**os.environ, **parsed.env(), "LIFTOFF_API_KEYS": "sk-image-test"}
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    image_env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH']}"
    program = parsed.cmd()[0]
    assert (venv / "bin" / program).exists(), f"CMD {program} is not in the image's environment"
    imports, absent = COMMAND_CHECKS[image]
    for statement in imports:
        # From the image's WORKDIR, not the repository: only what is installed can import.
        result = run([str(venv / "bin" / "python"), "-c", statement], cwd=workdir, env=image_env)
        assert result.returncode == 0, f"{statement}: {explain(result)}"
    for module in absent:
        python = str(venv / "bin" / "python")
        result = run([python, "-c", f"import {module}"], cwd=workdir, env=image_env)
        assert result.returncode != 0, f"the {image} image carries {module}"


def test_api_image_command_serves_the_gateway_on_the_platform_port() -> None:
    parsed = dockerfiles.parse(MATRIX["api"][1])
    assert parsed.cmd() == ["liftoff", "api"]
    env = parsed.env()
    assert env["LIFTOFF_HOST"] == "0.0.0.0" and env["LIFTOFF_PORT"] == "8000"
    assert 8000 in parsed.exposed_ports()
    probe = (
        "from liftoff.api.config import Settings; s = Settings(); print(s.host, s.port, s.backend)"
    )
    base = {**os.environ, **env, "LIFTOFF_API_KEYS": "sk-port-test"}
    for extra, expected in (
        ({}, "0.0.0.0 8000 ollama"),
        ({"PORT": "8080"}, "0.0.0.0 8080 ollama"),  # Cloud Run
        ({"PORT": "8080", "AIP_HTTP_PORT": "7080"}, "0.0.0.0 7080 ollama"),  # Vertex AI
    ):
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env={**base, **extra},
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
        assert result.stdout.strip().splitlines()[-1] == expected, explain(result)
