"""The Compose stack without Docker: the `api`, `evaluation` and model-pull commands run as
real processes with the Compose environment (service names mapped to loopback, container
ports to free ports). Ollama cannot run here: the gateway uses the embedded llama.cpp
backend with the packaged Gemma model instead, and the pull one-shot meets the
protocol-faithful fake Ollama (tests/fakes)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.deploy import compose, processes
from tests.deploy.tools import COMPOSE_FILE, REPO, explain
from tests.fakes.ollama_server import FakeOllama
from tests.servers import free_port

KEY = "sk-compose-process-test"
EVAL_KEY = "sk-compose-eval-test"
PROJECT = compose.load(
    COMPOSE_FILE, env={"LIFTOFF_API_KEYS": KEY, "LIFTOFF_EVAL_API_KEYS": EVAL_KEY}
)
API = PROJECT.services["api-gpu"]
EVALUATION = PROJECT.services["evaluation"]

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def ports() -> processes.PortMap:
    ports = processes.PortMap()
    ports.assign(API, 8000, free_port())
    ports.assign(EVALUATION, 8001, free_port())
    ports.assign(PROJECT.services["ollama-gpu"], 11434, free_port())  # nobody listens
    return ports


@pytest.fixture(scope="module")
def api(
    ports: processes.PortMap, gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[processes.Container, dict[str, str], str]]:
    port = ports.ports[("api", 8000)]
    env = processes.container_env(API, ports, own_port=port)
    env.update(LIFTOFF_BACKEND="llamacpp", LIFTOFF_MODEL=str(gguf_path))  # in place of Ollama
    container = processes.Container(processes.command(API), env, tmp_path_factory.mktemp("api"))
    url = f"http://127.0.0.1:{port}"
    container.start(url + "/readyz")
    yield container, env, url
    container.stop()


def test_api_command_is_the_image_cmd_and_binds_what_compose_publishes(
    api: tuple[processes.Container, dict[str, str], str],
) -> None:
    container, env, _ = api
    assert container.argv[1:] == ["api"] and container.argv[0].endswith("liftoff")
    assert env["LIFTOFF_HOST"] == "127.0.0.1"  # 0.0.0.0 in the container
    assert API.published == ["127.0.0.1:8000:8000"] and env["LIFTOFF_PORT"] != "8000"


def test_api_serves_the_openai_surface_with_the_compose_key(
    api: tuple[processes.Container, dict[str, str], str],
) -> None:
    _, _, url = api
    with openai.OpenAI(base_url=url + "/v1", api_key=KEY) as client:
        assert [model.id for model in client.models.list()] == [
            "gemma-3-270m-q4_k_m",
            "all-minilm-l6-v2",
        ]


def test_api_healthchecks_pass_on_the_running_process_and_fail_without_it(
    api: tuple[processes.Container, dict[str, str], str],
) -> None:
    _, env, _ = api
    compose_check = processes.healthcheck(API, env)
    assert compose_check.returncode == 0, explain(compose_check)
    image_check = processes.image_healthcheck(API.dockerfile, env)  # type: ignore[arg-type]
    assert image_check.returncode == 0, explain(image_check)
    closed = {**env, "LIFTOFF_PORT": str(free_port())}
    assert processes.healthcheck(API, closed).returncode != 0


def test_smoke_script_passes_against_the_compose_api(
    api: tuple[processes.Container, dict[str, str], str],
) -> None:
    _, _, url = api
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "smoke.py"), "--url", url, "--api-key", KEY,
         "--wait", "30"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    assert result.stdout.count("PASS") == 4


def _pull(profile: str, fake: FakeOllama) -> subprocess.CompletedProcess[str]:
    service = PROJECT.services[f"pull-{profile}"]
    ports = processes.PortMap()
    ports.assign(PROJECT.services[f"ollama-{profile}"], 11434, fake.port)
    env = processes.container_env(service, ports)
    argv = [ports.rewrite(arg) for arg in processes.command(service)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_gpu_pull_one_shot_pulls_its_model_into_ollama(fake_ollama: FakeOllama) -> None:
    del fake_ollama.models["llama3.1:8b"]  # in the registry, not yet pulled
    result = _pull("gpu", fake_ollama)
    assert result.returncode == 0, explain(result)
    assert "pulled llama3.1:8b" in result.stderr
    assert [body["model"] for body in fake_ollama.bodies("/api/pull")] == ["llama3.1:8b"]
    assert "llama3.1:8b" in fake_ollama.models


def test_pull_one_shot_fails_the_stack_with_ollamas_message(fake_ollama: FakeOllama) -> None:
    result = _pull("cpu", fake_ollama)  # llama3.2:1b: unknown to this registry
    assert result.returncode == 1
    assert "pull failed" in result.stderr and "file does not exist" in result.stderr


def test_pull_one_shot_says_when_ollama_is_unreachable(fake_ollama_down: FakeOllama) -> None:
    result = _pull("gpu", fake_ollama_down)
    assert result.returncode == 1 and "cannot reach Ollama" in result.stderr


def test_pull_healthcheck_reaches_ollama_by_its_compose_name(fake_ollama: FakeOllama) -> None:
    service = PROJECT.services["pull-gpu"]
    ports = processes.PortMap()
    ports.assign(PROJECT.services["ollama-gpu"], 11434, fake_ollama.port)
    result = processes.healthcheck(service, processes.container_env(service, ports))
    assert result.returncode == 0, explain(result)


@pytest.fixture(scope="module")
def evaluation(
    api: tuple[processes.Container, dict[str, str], str],
    ports: processes.PortMap,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[processes.Container, dict[str, str], str]]:
    from liftoff.evaluation.wordnet import ensure_wordnet

    nltk_data = ensure_wordnet()  # the image builds the same directory at /opt/nltk_data
    data = tmp_path_factory.mktemp("evaluation-data")
    port = ports.ports[("evaluation", 8001)]
    paths = {"/opt/nltk_data": str(nltk_data), "/data": str(data)}
    env = processes.container_env(EVALUATION, ports, own_port=port, paths=paths)
    container = processes.Container(processes.command(EVALUATION), env, data)
    url = f"http://127.0.0.1:{port}"
    container.start(url + "/readyz", timeout=180)
    yield container, env, url
    container.stop()


def test_evaluation_command_serves_and_passes_its_healthcheck(
    evaluation: tuple[processes.Container, dict[str, str], str],
) -> None:
    _, env, url = evaluation
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    result = processes.healthcheck(EVALUATION, env)
    assert result.returncode == 0, explain(result)


def test_evaluation_requires_the_compose_key_for_its_runs(
    evaluation: tuple[processes.Container, dict[str, str], str],
) -> None:
    """The Compose environment hands the service LIFTOFF_EVAL_API_KEYS: runs need one."""
    _, _, url = evaluation
    assert httpx.get(url + "/v1/runs", timeout=10).status_code == 401
    wrong = {"Authorization": f"Bearer {KEY}"}  # the gateway's key is not the service's
    assert httpx.get(url + "/v1/runs", headers=wrong, timeout=10).status_code == 401
    right = {"Authorization": f"Bearer {EVAL_KEY}"}
    assert httpx.get(url + "/v1/runs", headers=right, timeout=10).status_code == 200


def test_evaluation_reaches_the_gateway_by_its_compose_url_and_key(
    evaluation: tuple[processes.Container, dict[str, str], str],
    api: tuple[processes.Container, dict[str, str], str],
) -> None:
    """What the evaluation service's OpenAI client gets from its environment works."""
    _, env, _ = evaluation
    assert EVALUATION.environment["OPENAI_BASE_URL"] == "http://api:8000/v1"
    assert env["OPENAI_BASE_URL"] == api[2] + "/v1"
    with openai.OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"]) as client:
        reply = client.completions.create(
            model="gemma-3-270m-q4_k_m", prompt="The sky is", max_tokens=3, temperature=0
        )
    assert reply.usage is not None and reply.usage.completion_tokens >= 1


# The chat UI: its image command with the Compose environment, reaching the gateway by name.

UI_USERS = "ana:correct-horse"


def _ui_env(ports: processes.PortMap, users: str, data: Path) -> tuple[dict[str, str], int]:
    project = compose.load(
        COMPOSE_FILE,
        env={"LIFTOFF_API_KEYS": KEY, "LIFTOFF_EVAL_API_KEYS": EVAL_KEY, "LIFTOFF_UI_USERS": users},
    )
    service = project.services["ui"]
    port = free_port()
    env = processes.container_env(service, ports, paths={"/home/liftoff/ui": str(data)})
    env["LIFTOFF_UI_PORT"] = str(port)  # 8003 in the container
    return env, port


def test_ui_without_a_login_stops_with_the_variable_to_set(
    ports: processes.PortMap, tmp_path: Path
) -> None:
    env, _ = _ui_env(ports, "", tmp_path)
    env["LIFTOFF_UI_HOST"] = "0.0.0.0"  # as in the container; it refuses before binding
    result = subprocess.run(
        processes.command(PROJECT.services["ui"]), env=env, capture_output=True, text=True,
        timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "needs a login: set LIFTOFF_UI_USERS=user:password" in result.stderr


def test_ui_serves_with_a_login_and_its_gateway_url_and_key_work(
    api: tuple[processes.Container, dict[str, str], str],
    ports: processes.PortMap,
    tmp_path: Path,
) -> None:
    env, port = _ui_env(ports, UI_USERS, tmp_path)
    assert PROJECT.services["ui"].environment["LIFTOFF_UI_GATEWAY_URL"] == "http://api:8000/v1"
    assert env["LIFTOFF_UI_HOST"] == "127.0.0.1"  # 0.0.0.0 in the container
    assert env["LIFTOFF_UI_GATEWAY_URL"] == api[2] + "/v1"
    container = processes.Container(processes.command(PROJECT.services["ui"]), env, tmp_path)
    container.start(f"http://127.0.0.1:{port}/readyz", timeout=180)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["login"] == "password"
        assert processes.healthcheck(PROJECT.services["ui"], env).returncode == 0
        image = PROJECT.services["ui"].dockerfile
        assert image is not None and processes.image_healthcheck(image, env).returncode == 0
        # What the UI's OpenAI client gets from its environment reaches the gateway.
        with openai.OpenAI(
            base_url=env["LIFTOFF_UI_GATEWAY_URL"], api_key=env["LIFTOFF_UI_GATEWAY_API_KEY"]
        ) as client:
            assert [model.id for model in client.models.list()] == [
                "gemma-3-270m-q4_k_m",
                "all-minilm-l6-v2",
            ]
    finally:
        container.stop()
