"""The images: what they copy exists, what they install is the service's own locked extra, what
they run imports, and nothing runs as root or needs curl."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import compose, dockerfiles, platforms
from tests.deploy.tools import COMPOSE_FILE, REPO, explain, run, uv
from tests.fakes import ollama_cli

IMAGES_WORKFLOW = REPO / ".github" / "workflows" / "images.yml"
MIN_OLLAMA = (0, 17, 1)  # fixed CVE-2026-7482 (heap read through /api/create)
# The oldest NVIDIA driver each Ollama release's CUDA v12 runner loads on (ollama/ollama):
# from 0.11.11, 531 (commit e4ce683, "cuda: remove compression for better compatibility":
# "retains compatibility with driver 531 and up"; docs/gpu.md[x] says 531 until 0.30);
# from 0.30.0, 550 (llama-server built from upstream llama.cpp with compressed CUDA
# binaries; from 0.30.11 older drivers' GPUs are dropped and Ollama runs on the CPU without
# an error, commit f22ec2e "CUDA: require driver 550 or newer for v12", docs/gpu.mdx).
OLLAMA_DRIVER_FLOORS = [((0, 11, 11), 531), ((0, 30, 0), 550)]
# The NVIDIA driver of each platform Ollama runs on with a GPU.
PLATFORM_DRIVERS = {
    # "GPU support for services": "L4 GPU with the current NVIDIA driver version: 535.216.03"
    "Cloud Run (L4)": platforms.CLOUD_RUN_L4_DRIVER[0],
}


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
        "images/ui/Dockerfile",
    ]


def test_compose_builds_with_the_same_context_and_dockerfile_as_ci() -> None:
    project = compose.load(
        COMPOSE_FILE, env={"LIFTOFF_API_KEYS": "k", "LIFTOFF_EVAL_API_KEYS": "ek"}
    )
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


def _pinned_ollama() -> tuple[int, ...]:
    versions = _ollama_versions()
    assert len(set(versions.values())) == 1, versions
    return tuple(int(part) for part in next(iter(versions.values())).split("."))


def test_ollama_is_one_release_everywhere_with_the_published_security_fixes() -> None:
    assert _pinned_ollama() >= MIN_OLLAMA


def driver_floor(version: tuple[int, ...]) -> int:
    floors = [floor for since, floor in OLLAMA_DRIVER_FLOORS if version >= since]
    assert floors, f"no known NVIDIA driver floor for Ollama {version}"
    return floors[-1]


def test_the_pinned_ollama_runs_on_every_platforms_nvidia_driver() -> None:
    """Ollama does not fail on a driver too old for it: it runs on the CPU, and the model
    answers 10-50x slower. The pin must load on each platform's driver."""
    floor = driver_floor(_pinned_ollama())
    for platform, driver in PLATFORM_DRIVERS.items():
        assert driver >= floor, f"{platform} has driver {driver}; Ollama needs {floor}+"
    assert driver_floor((0, 32, 15)) == 550 > PLATFORM_DRIVERS["Cloud Run (L4)"]


def test_the_driver_requirement_is_documented_for_compose() -> None:
    floor = driver_floor(_pinned_ollama())
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    compose_section = docs.split("## Docker Compose", 1)[1].split("\n## ", 1)[0]
    assert f"**{floor} or newer**" in compose_section
    assert f"driver {floor}+" in COMPOSE_FILE.read_text(encoding="utf-8")
    assert f"driver {floor} or newer" in (REPO / ".env.example").read_text(encoding="utf-8")


def _pull_step() -> str:
    parsed = dockerfiles.parse(REPO / "images" / "ollama" / "Dockerfile")
    (step,) = [run_ for run_ in parsed.final.all("RUN") if "ollama serve" in run_]
    return step


def _build(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Runs the image's pull step as the build does (its SHELL, ENV and MODEL build argument),
    with the fake `ollama`, in a directory standing for the image's filesystem."""
    parsed = dockerfiles.parse(REPO / "images" / "ollama" / "Dockerfile")
    image = tmp_path / "image"
    state = tmp_path / "state"
    for directory in (image / "home" / "ollama", image / "tmp", state):
        directory.mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    ollama_cli.install(bin_dir)
    env = {
        **parsed.env(),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(image / "home" / "ollama"),  # the user's home, as USER sets it
        "TMPDIR": str(image / "tmp"),
        "OLLAMA_MODELS": str(image / "models"),
        "MODEL": "llama3.2:1b",
        "FAKE_OLLAMA_STATE": str(state),
        **extra,
    }
    shell = json.loads(parsed.final.all("SHELL")[-1])
    result = subprocess.run(
        [*shell, _pull_step()], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result, image, state


def test_the_ollama_image_build_leaves_no_key_or_log_in_its_layer(tmp_path: Path) -> None:
    """``ollama serve`` writes a private key to ``$HOME/.ollama`` and its log wherever it is
    sent; whatever a RUN step leaves on disk is in the image layer for anyone who pulls it."""
    result, image, state = _build(tmp_path)
    assert result.returncode == 0, explain(result)
    served = json.loads((state / "serve.json").read_text())
    left = sorted(str(p.relative_to(image)) for p in image.rglob("*") if p.is_file())
    assert left == ["models/manifests/llama3.2:1b"], left
    assert not (Path(served["home"]) / ".ollama" / "id_ed25519").exists()
    assert not Path(served["log"]).exists(), f"the server's log stayed at {served['log']}"
    assert not Path(f"/proc/{served['pid']}").exists(), "the build's server still runs"


def test_the_ollama_image_build_fails_with_ollamas_message_and_cleans_up(tmp_path: Path) -> None:
    result, image, state = _build(tmp_path, FAKE_OLLAMA_PULL_FAILS="1")
    assert result.returncode == 1
    assert "file does not exist" in result.stderr and "could not pull llama3.2:1b" in result.stderr
    served = json.loads((state / "serve.json").read_text())
    assert not [p for p in image.rglob("*") if p.is_file()]
    assert not Path(f"/proc/{served['pid']}").exists()


def test_ollama_image_bakes_the_model_given_as_build_argument() -> None:
    parsed = dockerfiles.parse(REPO / "images" / "ollama" / "Dockerfile")
    assert "MODEL=llama3.1:8b" in parsed.final.all("ARG")
    assert parsed.env()["OLLAMA_KEEP_ALIVE"] == "-1"
    assert any('ollama pull "${MODEL}"' in run_ for run_ in parsed.final.all("RUN"))
    assert parsed.final.all("ENTRYPOINT") == ['["/bin/ollama"]']


EXTRAS = {"api": "api", "evaluation": "evaluation", "ui": "ui"}


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
    "ui": (
        ["import liftoff.ui.config, liftoff.ui.sources, chainlit.server"],
        ["xllamacpp", "sacrebleu", "ollama"],
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
    # --reinstall-package: uv caches a build of this project keyed on pyproject.toml alone,
    # so without it an edited module could be tested as its old build.
    sync = [*uv(), "sync", *parsed.uv_syncs()[-1], "--reinstall-package", "liftoff", "--quiet"]
    synced = run(sync, env=env)
    assert synced.returncode == 0, explain(synced)

    # Keys, as Compose and the platforms give them: the images bind 0.0.0.0 (the exposure rule).
    keys = {"LIFTOFF_API_KEYS": "sk-image-test", "LIFTOFF_EVAL_API_KEYS": "sk-image-test"}
    image_env = {**os.environ, **parsed.env(), **keys}
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
