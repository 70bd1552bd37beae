"""Every command README.md and docs/deploy.md show runs here as documented, with and without
gateway keys, or is declared as needing what a build machine lacks (Docker, a cluster, a
cloud account): a documented command with no entry in ``COVERAGE`` fails the suite.

Commands run as a reader runs them: through bash, from the repository, with the virtual
environment active (``source .venv/bin/activate``, as the README says), on free loopback
ports instead of 8000-8003 (``LIFTOFF_PORT``, ``LIFTOFF_EVAL_PORT``, ``LIFTOFF_RAG_PORT``,
``LIFTOFF_UI_PORT``, or the URL rewritten),
with their placeholders filled in (``/path/to/any-model.gguf``, ``MODEL``, ``RUN_OR_FILE``,
``<commit>``). What cannot run here is met by the suite's fakes: the Ollama server
(``tests/fakes/ollama_server.py``), ngrok's agent (``tests/fakes/ngrok_agent.py``); the
``openai`` backend meets llama.cpp's own server.

"With keys" is what the README's tunnel section does, ``LIFTOFF_API_KEYS=sk-demo-1 make
run``, and what a reader then types: the SDKs and the evaluation CLI take a key from the
variables the README names; a command the README shows without a key is refused (401).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from liftoff.server.processes import ServiceProcess, free_port
from tests.docs.commands import at_port, deploy_doc, documented_commands, inline, readme
from tests.fakes.ngrok_agent import FakeNgrokAgent
from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.llama_server import LlamaServer
from tests.servers import REPO

KEY = "sk-demo-1"  # the README's demo key
MODES = ["without keys", "with keys"]
READY = "Press Ctrl-C to stop."
TUNNEL_READY = "Press Ctrl-C to close the tunnel."


# --- what covers each documented command --------------------------------------------------


@dataclass(frozen=True)
class Runs:
    """A test (or fixture) of this module runs the command as documented."""

    test: str


@dataclass(frozen=True)
class RunsElsewhere:
    """Run by another part of the suite or CI: ``where`` is a file of this repository."""

    where: str
    why: str


@dataclass(frozen=True)
class NotHere:
    """Needs what no build machine has."""

    needs: str


@dataclass(frozen=True)
class NotInSuite:
    """Could run here, but must not run inside the suite."""

    why: str


Coverage = Runs | RunsElsewhere | NotHere | NotInSuite
GOOGLE_CLOUD = "a Google Cloud project and gcloud credentials"

# (pattern matched at the start of the command, one line, single spaces; what covers it)
COVERAGE: list[tuple[str, Coverage]] = [
    # README: quickstart, other models, SDKs
    (r"make run$", Runs("stack")),
    (r"LIFTOFF_API_KEYS=sk-demo-1 make run$", Runs("stack")),
    (r"make setup$", Runs("stack")),  # every make target starts with it
    (r"make test$", RunsElsewhere(".ci/run", "the suite itself: CI runs `make test`")),
    (r"make validate$", RunsElsewhere("tests/deploy", "pytest tests/deploy -m 'not model'")),
    (r"make lint$", Runs("test_make_lint_passes")),
    (r"make format$", NotInSuite("rewrites the working tree; `make lint` checks the same rules")),
    (r"make bench$", NotInSuite("minutes of CPU that rewrite benchmarks/results/ (committed)")),
    (r"curl http://127\.0\.0\.1:8000/v1/chat/completions -H 'Content",
     Runs("test_readme_curl_answers_and_is_refused_without_a_key_when_keys_are_on")),
    (r"LIFTOFF_MODEL=/path/to/any-model\.gguf make run$",
     Runs("test_make_run_serves_any_gguf_file")),
    (r"LIFTOFF_BACKEND=ollama LIFTOFF_MODEL=llama3\.1:8b make run$", Runs("ollama_stack")),
    (r"LIFTOFF_BACKEND=openai OPENAI_BASE_URL=http://host:8000/v1",
     Runs("test_make_run_serves_an_openai_compatible_server")),
    (r"import os from openai import OpenAI", Runs("test_readme_openai_sdk_snippet_streams")),
    (r"import ollama", Runs("test_readme_ollama_snippet_generates")),
    (r"liftoff up$", RunsElsewhere("tests/cli/test_up.py", "what `make run` runs")),
    (r"liftoff api$", Runs("test_liftoff_api_serves_the_gateway")),
    (r"liftoff pull( MODEL)?$", Runs("test_liftoff_pull_pulls_into_ollama")),
    (r"liftoff doctor$", Runs("test_liftoff_doctor_passes")),
    # README: tunnel
    (r"export NGROK_AUTHTOKEN=", Runs("test_readme_tunnel_commands_publish_only_a_keyed_gateway")),
    (r"liftoff tunnel", Runs("test_readme_tunnel_commands_publish_only_a_keyed_gateway")),
    # README: evaluation
    (r"liftoff eval score ", Runs("test_liftoff_eval_score_scores_files")),
    (r"liftoff eval run", Runs("test_liftoff_eval_run_gates_and_compares_with_a_service_run")),
    (r"make eval$", Runs("test_make_eval_gates_the_sample")),
    # README and docs/deploy.md: Docker
    (r"cp \.env\.example \.env$", Runs("test_cp_env_example_makes_the_compose_env_file")),
    (r"docker ", NotHere("Docker")),
    (r"python3 -c \"import secrets;", Runs("test_documented_key_generator_makes_a_gateway_key")),
    (r"curl http://127\.0\.0\.1:8000/v1/chat/completions -H \"Authorization: Bearer \$KEY\"",
     Runs("test_deploy_compose_curl_answers")),
    (r"SMOKE_URL=http://127\.0\.0\.1:8000 LIFTOFF_SMOKE_API_KEY=\$KEY make smoke$",
     Runs("test_deploy_smoke_commands_pass")),
    (r"python3 scripts/smoke\.py --api-key \"\$KEY\" --model llama3\.2:1b --ollama-url",
     RunsElsewhere("tests/deploy/test_smoke.py", "--ollama-url on a fake Ollama")),
    (r"make smoke$", Runs("test_deploy_smoke_commands_pass")),
    # docs/deploy.md: Google Cloud, Kubernetes, Vertex AI, Azure
    (r"(PROJECT|NUMBER|DEPLOYER|URL|TOKEN)=", NotHere(GOOGLE_CLOUD)),
    (r"gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"for role in .* gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"python3 scripts/smoke\.py --url \"\$URL\" --token \"\$TOKEN\"",
     Runs("test_deploy_smoke_commands_pass")),
    (r"python3 scripts/smoke\.py --url \"\$\(gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"kubectl ", NotHere("a Kubernetes cluster")),
    (r"python3 scripts/render_deploy\.py .*\| kubectl apply", NotHere("a Kubernetes cluster")),
    (r"python3 deploy/vertex/deploy\.py ", Runs("test_vertex_deploy_script_dry_run")),
    (r"curl -X POST -H \"Authorization: Bearer \$\(gcloud", NotHere(GOOGLE_CLOUD)),
    (r"export AZURE_LOCATION=", Runs("test_azure_envsubst_renders_the_container_app")),
    (r"envsubst < deploy/azure/containerapp\.yaml",
     Runs("test_azure_envsubst_renders_the_container_app")),
    (r"az ", NotHere("an Azure subscription")),
    (r"python3 scripts/smoke\.py --url https://\$\(az ", NotHere("an Azure subscription")),
    # Not yet run as written (branch doccmds): each is exercised by the test file named.
    (r"LIFTOFF_BACKEND=gemini ",
     RunsElsewhere("tests/api/backends/test_gemini.py", "the gemini backend on the fake Gemini")),
    (r"liftoff rag ingest ",
     RunsElsewhere("tests/cli/test_rag.py", "liftoff rag ingest into a real retrieval service")),
    (r"curl http://127\.0\.0\.1:8002/v1/chat/completions",
     RunsElsewhere("tests/retrieval/test_chat.py", "rag: models answer with citations")),
    (r"from openai import OpenAI client = OpenAI\(base_url=\"http://127\.0\.0\.1:8002",
     RunsElsewhere("tests/retrieval/test_chat.py", "the OpenAI SDK reads citations")),
    (r"make rag-eval$",
     RunsElsewhere("tests/retrieval/test_sample_set.py", "the same liftoff eval run and gates")),
    (r"echo 'LIFTOFF_UI_USERS=",
     RunsElsewhere("tests/ui/test_config.py", "the UI's logins from LIFTOFF_UI_USERS")),
    (r"from google\.cloud import aiplatform",
     RunsElsewhere("tests/api/test_vertex_endpoint_predict.py", "Endpoint.predict on a fake")),
    (r"LIFTOFF_(POSTGRES_PASSWORD|RAG_DATABASE_URL)=",
     RunsElsewhere("tests/deploy/test_compose_wiring.py", "Compose's Postgres wiring")),
]  # fmt: skip


def test_every_documented_command_is_run_or_declared_impossible_here() -> None:
    uncovered, ambiguous = [], []
    for command in documented_commands():
        entries = [how for pattern, how in COVERAGE if re.match(pattern, command.normalized)]
        if not entries:
            uncovered.append(str(command))
        elif len(set(entries)) > 1 and not _one_kind(entries):
            ambiguous.append(f"{command} -> {entries}")
    assert not uncovered, (
        "documented commands that no test runs: run each in tests/docs/test_commands.py (with "
        "and without keys) and add it to COVERAGE, or declare what it needs:\n"
        + "\n".join(uncovered)
    )
    assert not ambiguous, "\n".join(ambiguous)


def _one_kind(entries: list[Coverage]) -> bool:
    """Several patterns may match one command when they agree (all need the same cloud)."""
    return len({type(entry) for entry in entries}) == 1 and not any(
        isinstance(entry, Runs) for entry in entries
    )


def test_every_coverage_entry_matches_a_documented_command_and_names_a_real_test() -> None:
    commands = [command.normalized for command in documented_commands()]
    for pattern, how in COVERAGE:
        assert any(re.match(pattern, command) for command in commands), f"stale: {pattern!r}"
        if isinstance(how, Runs):
            assert callable(globals().get(how.test)), f"{pattern!r}: no {how.test} here"
        if isinstance(how, RunsElsewhere):
            assert (REPO / how.where).exists(), f"{pattern!r}: {how.where} does not exist"


# --- running commands as a reader does ----------------------------------------------------

# Settings a reader's shell would not have; each test sets what its command needs.
_NOT_INHERITED = ("LIFTOFF_", "OLLAMA_", "OPENAI_", "AIP_", "NGROK_", "SMOKE_")
_KEPT = ("LIFTOFF_TEST_SESSION", "LIFTOFF_CACHE_DIR", "LIFTOFF_NLTK_DATA")


def shell_env(**settings: str | None) -> dict[str, str]:
    """A reader's shell in this repository with the virtual environment active, plus
    ``settings`` (None: unset)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _KEPT or (not name.startswith(_NOT_INHERITED) and name not in ("PORT", "KEY"))
    }
    venv = REPO / ".venv"
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    env.update(COLUMNS="200")
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def sh(text: str, env: dict[str, str], *, cwd: Path = REPO, timeout: float = 120) -> str:
    """Runs ``text`` with bash; returns stdout and stderr together; fails on a non-zero exit."""
    result = _bash(text, env, cwd=cwd, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"$ {text}\nexit {result.returncode}:\n{output[-4000:]}"
    return output


def _bash(
    text: str, env: dict[str, str], *, cwd: Path = REPO, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", text], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@dataclass
class Stack:
    """A stack ``make run`` started: the gateway, the evaluation service, and its shell."""

    process: ServiceProcess
    api: str
    evaluation: str
    key: str | None
    env: dict[str, str]

    @property
    def api_port(self) -> int:
        return int(self.api.rsplit(":", 1)[1])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def output(self) -> str:
        return self.process.output()


@contextlib.contextmanager
def make_run(command: str, env: dict[str, str], tmp: Path, key: str | None) -> Iterator[Stack]:
    """``command`` (a ``make run`` line) on free ports until ``liftoff up`` is ready; then
    Ctrl-C, as at a terminal, and nothing it started may be left."""
    api_port, evaluation_port = free_port(), free_port()
    env = {**env, "LIFTOFF_PORT": str(api_port), "LIFTOFF_EVAL_PORT": str(evaluation_port),
           "LIFTOFF_RAG_PORT": str(free_port()), "LIFTOFF_UI_PORT": str(free_port()),
           "LIFTOFF_EVAL_STORE": str(tmp / "runs.sqlite3"),
           "LIFTOFF_RAG_STORE": str(tmp / "retrieval.sqlite3")}  # fmt: skip
    process = ServiceProcess(
        ["bash", "-c", command], health_url=f"http://127.0.0.1:{api_port}/readyz", name=command,
        env=env, cwd=REPO, log=tmp / "make-run.log", ready_timeout=240,
        stop_signal=signal.SIGINT, stop_group=True, stop_timeout=45,
    )  # fmt: skip
    with process:
        deadline = time.monotonic() + 120
        while READY not in process.output():
            assert process.poll() is None, f"{command} exited:\n{process.output()[-4000:]}"
            assert time.monotonic() < deadline, f"{command}: not ready:\n{process.output()}"
            time.sleep(0.2)
        services = psutil.Process(process.pid).children(recursive=True)
        stack = Stack(process, f"http://127.0.0.1:{api_port}",
                      f"http://127.0.0.1:{evaluation_port}", key, env)  # fmt: skip
        yield stack
    output = stack.output()
    assert "Stopping..." in output, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    if key:
        assert key not in output  # never printed
    _, alive = psutil.wait_procs(services, timeout=10)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == [], "left running"


@pytest.fixture(params=MODES)
def key(request: pytest.FixtureRequest) -> str | None:
    return KEY if request.param == "with keys" else None


def keys_env(key: str | None) -> dict[str, str | None]:
    return {"LIFTOFF_API_KEYS": key}


# --- the README's stack: make run, with the packaged Gemma --------------------------------


@pytest.fixture(scope="module", params=MODES)
def stack(
    request: pytest.FixtureRequest, gguf_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """``make run`` (quickstart), or ``LIFTOFF_API_KEYS=sk-demo-1 make run`` (tunnel)."""
    keyed = request.param == "with keys"
    command = readme(r"LIFTOFF_API_KEYS=sk-demo-1 make run$" if keyed else r"make run$")
    env = shell_env(LIFTOFF_CACHE_DIR=str(gguf_path.parent))
    with make_run(command, env, tmp_path_factory.mktemp("make-run"), KEY if keyed else None) as s:
        yield s


def test_readme_curl_answers_and_is_refused_without_a_key_when_keys_are_on(stack: Stack) -> None:
    curl = at_port(readme(r"curl http://127\.0\.0\.1:8000/v1/chat/completions"), stack.api_port)
    answer = json.loads(sh(curl + " -s", stack.env).splitlines()[-1])
    if stack.key is None:
        assert answer["choices"][0]["message"]["content"]
    else:  # the README's keyless curl, against the gateway the tunnel section starts
        assert answer["error"]["message"].startswith("missing API key")


def _python(snippet: str, env: dict[str, str], tmp: Path) -> str:
    script = tmp / "snippet.py"
    script.write_text(snippet)
    return sh(f"python3 {script}", env, timeout=120)


def test_readme_openai_sdk_snippet_streams(stack: Stack, tmp_path: Path) -> None:
    snippet = at_port(readme(r"import os from openai import OpenAI"), stack.api_port)
    env = {**stack.env, "LIFTOFF_API_KEY": stack.key} if stack.key else stack.env
    assert _python(snippet, env, tmp_path).strip()


def test_readme_ollama_snippet_generates(stack: Stack, tmp_path: Path) -> None:
    snippet = at_port(readme(r"import ollama"), stack.api_port)
    env = {**stack.env, "OLLAMA_API_KEY": stack.key} if stack.key else stack.env
    assert _python(snippet, env, tmp_path).strip()


@pytest.mark.timeout(900)
def test_liftoff_eval_run_gates_and_compares_with_a_service_run(
    stack: Stack, tmp_path: Path
) -> None:
    rows = [{"id": "sky", "prompt": "Q: What color is the sky?\nA:", "references": ["Blue."]},
            {"id": "two", "prompt": "Q: What is 1 plus 1?\nA:", "references": ["2"]}]  # fmt: skip
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    # The baseline: a run of the stack's evaluation service (a run id is a valid baseline).
    body = {"dataset": rows, "generation": {"max_tokens": 8}, "metrics": ["bleu", "rougeL"]}
    run_id = httpx.post(f"{stack.evaluation}/v1/runs", json=body, timeout=30).json()["id"]
    deadline = time.monotonic() + 120
    while (run := httpx.get(f"{stack.evaluation}/v1/runs/{run_id}").json())["status"] not in (
        "completed", "failed"
    ):  # fmt: skip
        assert time.monotonic() < deadline, run
        time.sleep(0.3)
    assert run["status"] == "completed", run  # its default target: the gateway, with its key
    command = at_port(readme(r"liftoff eval run data\.jsonl"), stack.api_port)
    command = command.replace("RUN_OR_FILE", run_id)
    env = {**stack.env, "LIFTOFF_EVAL_TARGET_API_KEY": stack.key or ""}
    result = _bash(command, env, cwd=tmp_path, timeout=840)
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output  # 1: a gate failed, as documented; never 2
    assert "Traceback" not in output and "bleu" in output.lower()
    assert f"vs {run_id}" in output  # the comparison with the baseline
    for written in ("out.html", "out.xml", "out.json"):
        assert (tmp_path / written).stat().st_size > 0


def test_readme_tunnel_commands_publish_only_a_keyed_gateway(stack: Stack, tmp_path: Path) -> None:
    fake = FakeNgrokAgent.install(tmp_path / "fake-ngrok")
    export = readme(r"export NGROK_AUTHTOKEN=")
    # Another terminal: the tunnel finds the gateway on LIFTOFF_PORT; it has no keys itself.
    env = {**shell_env(LIFTOFF_PORT=str(stack.api_port)), **fake.env()}
    tunnels = [readme(r"liftoff tunnel$"), readme(r"liftoff tunnel --basic-auth"),
               readme(r"liftoff tunnel --oauth")]  # fmt: skip
    try:
        for tunnel in tunnels:
            script = f"{export}\n{tunnel}"
            if stack.key is None:
                result = _bash(script, env, timeout=60)
                assert result.returncode == 2, result.stdout + result.stderr
                assert "answers without an API key" in result.stdout
                continue
            process = ServiceProcess(
                ["bash", "-c", script], health_url=None, name=tunnel, env=env, cwd=REPO,
                log=tmp_path / "tunnel.log", stop_signal=signal.SIGINT, stop_group=True,
                stop_timeout=30,
            )  # fmt: skip
            with process:
                deadline = time.monotonic() + 60
                while TUNNEL_READY not in process.output():
                    assert process.poll() is None, process.output()
                    assert time.monotonic() < deadline, process.output()
                    time.sleep(0.1)
            assert process.process is not None and process.process.returncode == 0
            assert "Tunnel closed." in process.output()
            (tmp_path / "tunnel.log").unlink()
    finally:
        for pid in fake.started_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- other ways to run the stack ----------------------------------------------------------


def test_make_run_serves_any_gguf_file(key: str | None, gguf_path: Path, tmp_path: Path) -> None:
    command = readme(r"LIFTOFF_MODEL=/path/to/any-model\.gguf make run$")
    model = tmp_path / "my model.gguf"  # any path, spaces included
    model.symlink_to(gguf_path)
    command = command.replace("/path/to/any-model.gguf", f"'{model}'")
    with make_run(command, shell_env(**keys_env(key)), tmp_path, key) as stack:
        listed = httpx.get(f"{stack.api}/v1/models", headers=stack.headers()).json()
        served = {model["id"]: model["capabilities"] for model in listed["data"]}
        # The file chats; embeddings still come from the packaged all-MiniLM-L6-v2.
        assert served == {"my model": ["completion"], "all-minilm-l6-v2": ["embedding"]}


def test_make_run_serves_an_openai_compatible_server(
    key: str | None, gguf_path: Path, tmp_path: Path
) -> None:
    command = readme(r"LIFTOFF_BACKEND=openai OPENAI_BASE_URL=http://host:8000/v1")
    served = re.search(r"LIFTOFF_MODEL=(\S+)", command).group(1)  # type: ignore[union-attr]
    with LlamaServer(str(gguf_path), alias=served) as upstream:
        command = command.replace("http://host:8000/v1", upstream.url)
        with make_run(command, shell_env(**keys_env(key)), tmp_path, key) as stack:
            answer = httpx.post(
                f"{stack.api}/v1/chat/completions", headers=stack.headers(), timeout=60,
                json={"model": served, "max_tokens": 4,
                      "messages": [{"role": "user", "content": "Hello"}]},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module", params=MODES)
def ollama_stack(
    request: pytest.FixtureRequest,
    shared_fake_ollama: FakeOllama,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """``LIFTOFF_BACKEND=ollama LIFTOFF_MODEL=llama3.1:8b make run`` on the fake Ollama; with
    keys, a key made by docs/deploy.md's generator (as for Compose's .env)."""
    key = _generated_key() if request.param == "with keys" else None
    command = readme(r"LIFTOFF_BACKEND=ollama LIFTOFF_MODEL=llama3\.1:8b make run$")
    env = shell_env(OLLAMA_HOST=shared_fake_ollama.url, **keys_env(key))
    with make_run(command, env, tmp_path_factory.mktemp("make-run-ollama"), key) as stack:
        yield stack


def _generated_key() -> str:
    output = sh(deploy_doc(r"python3 -c \"import secrets;"), shell_env()).strip()
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{32}", output), output
    return output


def test_documented_key_generator_makes_a_gateway_key(ollama_stack: Stack) -> None:
    if ollama_stack.key is not None:  # the stack requires the generated key
        assert httpx.get(f"{ollama_stack.api}/v1/models").status_code == 401
        listed = httpx.get(f"{ollama_stack.api}/v1/models", headers=ollama_stack.headers())
        assert listed.status_code == 200
    assert _generated_key() != _generated_key()


def _reader_env(stack: Stack) -> dict[str, str]:
    """A shell where KEY holds the gateway's key, as docs/deploy.md's commands expect."""
    return shell_env(KEY=stack.key)


def test_deploy_compose_curl_answers(ollama_stack: Stack) -> None:
    curl = deploy_doc(r"curl http://127\.0\.0\.1:8000/v1/chat/completions -H \"Authorization")
    output = sh(at_port(curl, ollama_stack.api_port) + " -s", _reader_env(ollama_stack))
    answer = json.loads(output.splitlines()[-1])
    assert answer["model"] == "llama3.1:8b" and answer["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    "pattern",
    [
        r"SMOKE_URL=http://127\.0\.0\.1:8000 LIFTOFF_SMOKE_API_KEY=\$KEY make smoke$",  # Compose
        r"python3 scripts/smoke\.py --url \"\$URL\" --token \"\$TOKEN\"",  # Cloud Run
    ],
    ids=["compose", "cloud-run"],
)
def test_deploy_smoke_commands_pass(ollama_stack: Stack, pattern: str) -> None:
    command = at_port(deploy_doc(pattern), ollama_stack.api_port)
    env = {**_reader_env(ollama_stack), "URL": ollama_stack.api,
           # kubectl's port-forward would answer on SMOKE_URL's default, 127.0.0.1:8000.
           "SMOKE_URL": ollama_stack.api,
           # Cloud Run checks the identity token; a gateway with keys takes its key there.
           "TOKEN": ollama_stack.key or "identity-token"}  # fmt: skip
    output = sh(command, env, timeout=300)
    assert f"smoke test passed against {ollama_stack.api}" in output


# --- the liftoff command ------------------------------------------------------------------


def test_liftoff_api_serves_the_gateway(key: str | None, gguf_path: Path, tmp_path: Path) -> None:
    port = free_port()
    env = shell_env(LIFTOFF_PORT=str(port), LIFTOFF_MODEL=str(gguf_path), **keys_env(key))
    command = inline("README.md", "liftoff api")
    api = ServiceProcess(
        ["bash", "-c", command], health_url=f"http://127.0.0.1:{port}/readyz", name=command,
        env=env, cwd=REPO, log=tmp_path / "api.log", ready_timeout=120,
        stop_signal=signal.SIGINT, stop_group=True,
    )  # fmt: skip
    with api:
        models = httpx.get(f"{api.url}/v1/models", headers=_auth(key))
        assert models.status_code == 200 and models.json()["data"][0]["id"]
        if key:
            assert httpx.get(f"{api.url}/v1/models").status_code == 401
    assert api.process is not None and api.process.returncode == 0, api.output()


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def test_liftoff_pull_pulls_into_ollama(key: str | None, fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(FakeModel("qwen2.5:0.5b", size=397_821_319), pulled=False)
    command = inline("README.md", "liftoff pull MODEL")
    output = sh(command.replace("MODEL", "qwen2.5:0.5b"),
                shell_env(OLLAMA_HOST=fake_ollama.url, **keys_env(key)))  # fmt: skip
    assert "pulled qwen2.5:0.5b" in output
    assert "qwen2.5:0.5b" in fake_ollama.models


def test_liftoff_doctor_passes(key: str | None, gguf_path: Path) -> None:
    env = shell_env(LIFTOFF_CACHE_DIR=str(gguf_path.parent), LIFTOFF_PORT=str(free_port()),
                    **keys_env(key))  # fmt: skip
    output = sh(inline("README.md", "liftoff doctor"), env)
    assert "PASS  llamacpp backend: ready" in output


def test_liftoff_eval_score_scores_files(key: str | None, tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text('"The cat sat on the mat."\n"Hello there"\n')
    (tmp_path / "r.jsonl").write_text('"The cat sat on the mat."\n["Hello there", "Hi"]\n')
    command = readme(r"liftoff eval score ")
    output = sh(command, shell_env(**keys_env(key)), cwd=tmp_path)
    assert re.search(r"│ bleu +│ 100\.0000 │", output), output
    assert re.search(r"│ rougeL +│ +1\.0000 │", output), output


@pytest.mark.model
@pytest.mark.timeout(900)
def test_make_eval_gates_the_sample(key: str | None, gguf_path: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite3")  # never the reader's own runs
    env = shell_env(LIFTOFF_CACHE_DIR=str(gguf_path.parent), LIFTOFF_EVAL_STORE=store,
                    **keys_env(key))  # fmt: skip
    output = sh(readme(r"make eval$"), env, timeout=840)
    assert (REPO / "build" / "eval" / "report.html").is_file()
    assert "Traceback" not in output
    if key:
        assert key not in output


# --- deployment commands that run here ----------------------------------------------------


def test_cp_env_example_makes_the_compose_env_file(key: str | None, tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    sh(readme(r"cp \.env\.example \.env$"), shell_env(**keys_env(key)), cwd=tmp_path)
    assert (tmp_path / ".env").read_text() == (REPO / ".env.example").read_text()
    assert "LIFTOFF_API_KEYS=" in (tmp_path / ".env").read_text()


def test_vertex_deploy_script_dry_run(key: str | None) -> None:
    command = deploy_doc(r"python3 deploy/vertex/deploy\.py ").replace("<commit>", "0123abc")
    env = shell_env(PROJECT="my-project", REGION="us-central1", **keys_env(key))
    output = sh(command + " --dry-run", env)  # what the documented comment says to add
    assert "gcloud ai models upload" in output and "deploy-model" in output


def test_azure_envsubst_renders_the_container_app(key: str | None, tmp_path: Path) -> None:
    rendered = tmp_path / "liftoff-app.yaml"
    script = "\n".join([
        deploy_doc(r"export AZURE_LOCATION=").replace("<commit>", "0123abc"),
        deploy_doc(r"envsubst < deploy/azure/containerapp\.yaml").replace(
            "/tmp/liftoff-app.yaml", str(rendered)
        ),
    ])  # fmt: skip
    sh(script, shell_env(KEY=key))
    text = rendered.read_text()
    assert "${" not in text
    app = yaml.safe_load(text)
    assert app["location"] == "swedencentral"


def test_make_lint_passes() -> None:
    """Once: lint reads files, not the gateway; its keys cannot change the outcome."""
    sh(inline("README.md", "make lint"), shell_env(), timeout=600)
