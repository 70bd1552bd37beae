"""Every command README.md and docs/deploy.md show runs here as documented, with and without
gateway keys, or is declared as needing what a build machine lacks (Docker, a cluster, a
cloud account): a documented command with no entry in ``COVERAGE`` fails the suite.

Commands run as a reader runs them: through bash, from the repository, with the virtual
environment active (``source .venv/bin/activate``, as the README says), on free loopback
ports instead of 8000-8003 (``LIFTOFF_PORT``, ``LIFTOFF_EVAL_PORT``, ``LIFTOFF_RAG_PORT``,
``LIFTOFF_UI_PORT``, or the URL rewritten),
with their placeholders filled in (``/path/to/any-model.gguf``, ``MODEL``, ``RUN_OR_FILE``,
``<commit>``, ``...``). What cannot run here is met by the suite's fakes: the Ollama server
(``tests/fakes/ollama_server.py``), ngrok's agent (``tests/fakes/ngrok_agent.py``), the Gemini
API and Vertex AI (``gemini_server.py``, with ``metadata_server.py`` for Google's
credentials), a Vertex AI endpoint (``vertex_endpoint.py``); the ``openai`` backend meets
llama.cpp's own server. ``rag:`` commands meet the retrieval service ``make run`` starts.

"With keys" is what the README's tunnel section does, ``LIFTOFF_API_KEYS=sk-demo-1 make
run``, and what a reader then types: the SDKs and the evaluation CLI take a key from the
variables the README names; a command the README shows without a key is refused (401).
"""

from __future__ import annotations

import ast
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
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import yaml
from dotenv import dotenv_values

from liftoff.retrieval.config import Settings as RetrievalSettings
from liftoff.server.processes import ServiceProcess, free_port
from liftoff.ui.config import Settings as UiSettings
from tests.docs.commands import (
    at_port,
    command_in,
    deploy_doc,
    documented_commands,
    inline,
    readme,
)
from tests.fakes.gemini_server import API_KEY as GEMINI_KEY
from tests.fakes.gemini_server import CHAT_MODEL as GEMINI_MODEL
from tests.fakes.gemini_server import EMBEDDING_MODEL as GEMINI_EMBEDDING_MODEL
from tests.fakes.gemini_server import WORDS as GEMINI_WORDS
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.metadata_server import FakeMetadata
from tests.fakes.ngrok_agent import FakeNgrokAgent
from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.fakes.vertex_endpoint import FakeVertexEndpoint
from tests.llama_server import LlamaServer
from tests.servers import REPO, serve_in_thread

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
    # README and docs/deploy.md: Gemini (the fake Gemini API and Vertex AI)
    (r"LIFTOFF_BACKEND=gemini GEMINI_API_KEY=\.\.\. LIFTOFF_MODEL=gemini-2\.5-flash make run$",
     Runs("test_make_run_serves_gemini")),
    (r"LIFTOFF_BACKEND=gemini GEMINI_API_KEY=\.\.\. LIFTOFF_MODEL=gemini-2\.5-flash "
     r"LIFTOFF_EMBEDDING_MODEL=gemini-embedding-001 liftoff api$",
     Runs("test_liftoff_api_serves_gemini_with_an_api_key")),
    (r"export LIFTOFF_BACKEND=gemini GEMINI_API_KEY=\.\.\. ",
     Runs("test_deploy_gemini_commands_check_and_serve_gemini")),
    (r"LIFTOFF_BACKEND=gemini GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_CLOUD_PROJECT=",
     Runs("test_liftoff_api_serves_gemini_on_vertex_ai")),
    # README: retrieval (the retrieval service of `make run`)
    (r"liftoff rag ingest examples/rag/docs --collection samples$", Runs("samples")),
    (r"curl http://127\.0\.0\.1:8002/v1/chat/completions -H 'Content",
     Runs("test_readme_rag_curl_answers_with_citations")),
    (r"from openai import OpenAI client = OpenAI\(base_url=\"http://127\.0\.0\.1:8002/v1\"",
     Runs("test_readme_rag_sdk_snippet_prints_citations")),
    (r"liftoff rag ingest PATH --collection NAME$", Runs("test_liftoff_rag_ingest_path")),
    # `make rag-eval` is `liftoff rag ingest` of the samples then `liftoff eval run` with the
    # retrieval gates: 27 minutes of CPU on a build machine (the answers of rag:samples for
    # every case), too long for a suite run twice (with and without keys). The same ingest,
    # run and gates, on the same sample set, run there.
    (r"make rag-eval$",
     RunsElsewhere("tests/retrieval/test_sample_set.py", "the same liftoff eval run and gates")),
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
     Runs("test_deploy_smoke_commands_pass")),  # Kubernetes, through port-forwards
    (r"make smoke$", Runs("test_deploy_smoke_commands_pass")),
    (r"echo 'LIFTOFF_UI_USERS=", Runs("test_ui_users_line_gives_the_compose_ui_a_login")),
    (r"LIFTOFF_POSTGRES_PASSWORD=\.\.\.$", Runs("test_compose_postgres_lines_name_one_database")),
    (r"LIFTOFF_RAG_DATABASE_URL=postgresql://",
     Runs("test_compose_postgres_lines_name_one_database")),
    (r"liftoff rag ingest docs/ --collection handbook --api-key \"\$KEY\"",
     Runs("test_deploy_rag_ingest_from_the_host")),
    # docs/deploy.md: Google Cloud, Kubernetes, Vertex AI, Azure
    (r"(PROJECT|NUMBER|DEPLOYER|URL|TOKEN)=", NotHere(GOOGLE_CLOUD)),
    (r"gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"for role in .* gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"python3 scripts/smoke\.py --url \"\$URL\" --token \"\$TOKEN\"",
     Runs("test_deploy_smoke_commands_pass")),
    (r"python3 scripts/smoke\.py --url \"\$\(gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"kubectl ", NotHere("a Kubernetes cluster")),
    (r"python3 scripts/render_deploy\.py .*\| kubectl apply", NotHere("a Kubernetes cluster")),
    (r"python3 scripts/smoke\.py --url \"\$\(gcloud ", NotHere(GOOGLE_CLOUD)),
    (r"python3 deploy/vertex/deploy\.py ", Runs("test_vertex_deploy_script_dry_run")),
    (r"from google\.cloud import aiplatform", Runs("test_vertex_sdk_snippet_predicts")),
    (r"curl -X POST -H \"Authorization: Bearer \$\(gcloud", NotHere(GOOGLE_CLOUD)),
    (r"export AZURE_LOCATION=", Runs("test_azure_envsubst_renders_the_container_app")),
    (r"envsubst < deploy/azure/containerapp\.yaml",
     Runs("test_azure_envsubst_renders_the_container_app")),
    (r"az ", NotHere("an Azure subscription")),
    (r"python3 scripts/smoke\.py --url https://\$\(az ", NotHere("an Azure subscription")),
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
    retrieval: str
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
    api_port, evaluation_port, retrieval_port = free_port(), free_port(), free_port()
    env = {**env, "LIFTOFF_PORT": str(api_port), "LIFTOFF_EVAL_PORT": str(evaluation_port),
           "LIFTOFF_RAG_PORT": str(retrieval_port), "LIFTOFF_UI_PORT": str(free_port()),
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
                      f"http://127.0.0.1:{evaluation_port}",
                      f"http://127.0.0.1:{retrieval_port}", key, env)  # fmt: skip
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


# --- the README's retrieval section, on the stack's retrieval service ---------------------


def _rag_env(stack: Stack, *, with_key: bool = True) -> dict[str, str]:
    """A shell for ``liftoff rag``: the service on the stack's port (a reader's is the default,
    127.0.0.1:8002); with keys, the key in ``LIFTOFF_API_KEY``, as for the SDK above."""
    key = stack.key if with_key else None
    return shell_env(LIFTOFF_RAG_URL=stack.retrieval, LIFTOFF_API_KEY=key)


@pytest.fixture(scope="module")
def samples(stack: Stack) -> str:
    """``liftoff rag ingest examples/rag/docs --collection samples``; its output. With keys on,
    the shell without a key is refused first (exit 2, saying what to set)."""
    command = readme(r"liftoff rag ingest examples/rag/docs --collection samples$")
    if stack.key:
        refused = _bash(command, _rag_env(stack, with_key=False), timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "the service wants an API key" in refused.stderr
    output = sh(command, _rag_env(stack), timeout=1200)
    assert "created collection samples" in output
    assert re.search(r"^samples: 7 \w+; [1-9]\d* chunks in the documents sent$", output, re.M)
    return output


@pytest.mark.timeout(1200)  # the first one ingests the samples: minutes of embedding
def test_readme_rag_curl_answers_with_citations(stack: Stack, samples: str) -> None:
    curl = readme(r"curl http://127\.0\.0\.1:8002/v1/chat/completions")
    curl = at_port(curl, int(stack.retrieval.rsplit(":", 1)[1]), documented=8002)
    # No max_tokens, as documented: Gemma answers until it stops; minutes on a busy machine.
    answer = json.loads(sh(curl + " -s", shell_env(), timeout=900).splitlines()[-1])
    if stack.key:  # shown without a key: refused where keys are on
        assert answer["error"]["message"].startswith("missing API key"), answer
        return
    assert answer["model"] == "rag:samples" and answer["choices"][0]["message"]["content"]
    cited = answer["citations"]
    assert cited and {"index", "source", "chunk", "score", "text"} <= set(cited[0])
    assert "nature/honeybees.md" in [citation["source"] for citation in cited]


@pytest.mark.timeout(1200)  # the first one ingests the samples: minutes of embedding
def test_readme_rag_sdk_snippet_prints_citations(
    stack: Stack, samples: str, tmp_path: Path
) -> None:
    snippet = readme(
        r"from openai import OpenAI client = OpenAI\(base_url=\"http://127\.0\.0\.1:8002"
    )
    snippet = at_port(snippet, int(stack.retrieval.rsplit(":", 1)[1]), documented=8002)
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    result = _bash(f"python3 {script}", shell_env(), timeout=900)  # as the curl above
    output = result.stdout + result.stderr
    if stack.key:  # api_key="unused": refused where keys are on
        assert result.returncode == 1 and "AuthenticationError" in output, output
        return
    assert result.returncode == 0, output
    # "index source chunk score" per citation; the PDF answers the question
    assert re.search(r"^\d+ rosetta-stone\.pdf \d+ -?[01]\.\d+$", result.stdout, re.M), output


def test_liftoff_rag_ingest_path(stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tides\n\nThe Moon's gravity raises two tides a day.\n")
    command = inline("README.md", "liftoff rag ingest PATH --collection NAME")
    output = sh(command.replace("PATH", str(folder)).replace("NAME", "notes"), _rag_env(stack))
    assert "created collection notes" in output
    assert re.search(r"^notes: 1 \w+; 1 chunks in the documents sent$", output, re.M), output


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
        r"python3 scripts/smoke\.py --api-key \"\$KEY\" --model llama3\.2:1b",  # Kubernetes
        r"python3 scripts/smoke\.py --url \"\$URL\" --token \"\$TOKEN\"",  # Cloud Run
    ],
    ids=["compose", "kubernetes", "cloud-run"],
)
def test_deploy_smoke_commands_pass(
    ollama_stack: Stack, shared_fake_ollama: FakeOllama, pattern: str
) -> None:
    # The Kubernetes overlay's model (k8s/overlays/cpu), pulled by its Job; kubectl's
    # port-forwards answer on 127.0.0.1:8000 (the script's default URL) and :11434.
    shared_fake_ollama.add_model(FakeModel("llama3.2:1b"))
    command = at_port(deploy_doc(pattern), ollama_stack.api_port)
    command = at_port(command, shared_fake_ollama.port, documented=11434)
    env = {**_reader_env(ollama_stack), "URL": ollama_stack.api,
           "SMOKE_URL": ollama_stack.api, "LIFTOFF_SMOKE_URL": ollama_stack.api,
           # Cloud Run checks the identity token; a gateway with keys takes its key there.
           "TOKEN": ollama_stack.key or "identity-token"}  # fmt: skip
    output = sh(command, env, timeout=300)
    assert f"smoke test passed against {ollama_stack.api}" in output
    if "--ollama-url" in command:  # Ollama's /api/ps: the model the smoke test generated with
        assert "PASS  GET /v1/models lists llama3.2:1b" in output
        assert "PASS  Ollama GET /api/ps" in output


# --- Gemini: the fake Gemini API and Vertex AI ----------------------------------------------
# google-genai is pointed at the fake by GOOGLE_GEMINI_BASE_URL / GOOGLE_VERTEX_BASE_URL, and
# google-auth at the fake metadata server by GCE_METADATA_HOST: settings a reader's shell
# does not have (as OLLAMA_HOST for the fake Ollama). The reader's `...` is the fake's key.


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    fake.projects.add("my-project")  # the README's Vertex AI project
    with serve_in_thread(fake.app(), ready_path="/") as url:
        fake.url = url
        fake.oauth.token_uri = f"{url}/token"
        yield fake


def _with_gemini_key(command: str) -> str:
    assert "GEMINI_API_KEY=..." in command, command
    return command.replace("GEMINI_API_KEY=...", f"GEMINI_API_KEY={GEMINI_KEY}")


def _asks_gemini(api: str, key: str | None) -> None:
    """What a reader notices: Gemini's models listed, a chat answered by Gemini, and, with
    keys on, a request without one refused."""
    listed = httpx.get(f"{api}/v1/models", headers=_auth(key))
    assert listed.status_code == 200, listed.text
    assert GEMINI_MODEL in [model["id"] for model in listed.json()["data"]]
    chat = httpx.post(
        f"{api}/v1/chat/completions", headers=_auth(key), timeout=60,
        json={"model": GEMINI_MODEL, "max_tokens": 4, "temperature": 0,
              "messages": [{"role": "user", "content": "Hello"}]},
    )  # fmt: skip
    assert chat.status_code == 200, chat.text
    words = chat.json()["choices"][0]["message"]["content"].split()
    assert len(words) == 4 and set(words) <= set(GEMINI_WORDS)
    if key:
        assert httpx.get(f"{api}/v1/models").status_code == 401


def test_make_run_serves_gemini(key: str | None, gemini: FakeGemini, tmp_path: Path) -> None:
    command = _with_gemini_key(readme(r"LIFTOFF_BACKEND=gemini GEMINI_API_KEY=\.\.\. .* make run$"))
    env = shell_env(GOOGLE_GEMINI_BASE_URL=gemini.url, **keys_env(key))
    with make_run(command, env, tmp_path, key) as stack:
        _asks_gemini(stack.api, key)
    assert GEMINI_KEY not in stack.output()


def _gateway(script: str, env: dict[str, str], port: int, log: Path) -> ServiceProcess:
    return ServiceProcess(
        ["bash", "-c", script], health_url=f"http://127.0.0.1:{port}/readyz", name=script,
        env={**env, "LIFTOFF_PORT": str(port)}, cwd=REPO, log=log, ready_timeout=120,
        stop_signal=signal.SIGINT, stop_group=True,
    )  # fmt: skip


def test_liftoff_api_serves_gemini_with_an_api_key(
    key: str | None, gemini: FakeGemini, tmp_path: Path
) -> None:
    command = readme(r"LIFTOFF_BACKEND=gemini GEMINI_API_KEY=\.\.\. .* liftoff api$")
    command = _with_gemini_key(command)
    env = shell_env(GOOGLE_GEMINI_BASE_URL=gemini.url, **keys_env(key))
    with _gateway(command, env, free_port(), tmp_path / "api.log") as api:
        _asks_gemini(api.url, key)
        body = {"model": GEMINI_EMBEDDING_MODEL, "input": ["a", "b"]}
        embedded = httpx.post(f"{api.url}/v1/embeddings", headers=_auth(key), json=body)
        assert embedded.status_code == 200 and len(embedded.json()["data"]) == 2, embedded.text
    assert api.process is not None and api.process.returncode == 0, api.output()
    assert GEMINI_KEY not in api.output()


def test_deploy_gemini_commands_check_and_serve_gemini(
    key: str | None, gemini: FakeGemini, tmp_path: Path
) -> None:
    """docs/deploy.md's block as one shell: the export, ``liftoff doctor``, ``liftoff api``."""
    export = _with_gemini_key(deploy_doc(r"export LIFTOFF_BACKEND=gemini GEMINI_API_KEY="))
    block = command_in("docs/deploy.md", r"export LIFTOFF_BACKEND=gemini")  # the block's order:
    text = (REPO / "docs/deploy.md").read_text()
    start = text.index(block.text)
    doctor, api = text.index("liftoff doctor", start), text.index("liftoff api", start)
    assert start < doctor < api, "docs/deploy.md: the export, then liftoff doctor, liftoff api"
    script = f"{export}\nliftoff doctor\nliftoff api"
    env = shell_env(GOOGLE_GEMINI_BASE_URL=gemini.url, **keys_env(key))
    with _gateway(script, env, free_port(), tmp_path / "api.log") as api_process:
        _asks_gemini(api_process.url, key)
        output = api_process.output()
    assert "PASS  gemini backend: ready" in output, output
    assert GEMINI_KEY not in output


def test_liftoff_api_serves_gemini_on_vertex_ai(
    key: str | None, gemini: FakeGemini, tmp_path: Path
) -> None:
    """Application Default Credentials from the (fake) metadata server, as on Cloud Run."""
    command = readme(r"LIFTOFF_BACKEND=gemini GOOGLE_GENAI_USE_VERTEXAI=true")
    metadata = FakeMetadata(access_tokens=gemini.access_tokens, project_id="metadata-project")
    with serve_in_thread(metadata.app(), ready_path="/") as metadata_url:
        host = metadata_url.removeprefix("http://")
        env = shell_env(GOOGLE_VERTEX_BASE_URL=gemini.url, GCE_METADATA_HOST=host,
                        GCE_METADATA_IP=host, CLOUDSDK_CONFIG=str(tmp_path),
                        GOOGLE_APPLICATION_CREDENTIALS=None, **keys_env(key))  # fmt: skip
        with _gateway(command, env, free_port(), tmp_path / "api.log") as api:
            _asks_gemini(api.url, key)
    # The gateway always streams upstream (liftoff/api/backends/gemini.py).
    called = [r for r in gemini.requests if r.path.endswith(":streamGenerateContent")][-1]
    assert "/projects/my-project/locations/us-central1/" in called.path, called.path


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


def test_ui_users_line_gives_the_compose_ui_a_login(key: str | None, tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")  # after `cp .env.example .env`
    sh(deploy_doc(r"echo 'LIFTOFF_UI_USERS="), shell_env(**keys_env(key)), cwd=tmp_path)
    # .env now sets LIFTOFF_UI_USERS twice (empty, then the login); the last one counts, as in
    # Compose's reading of .env.
    users = dotenv_values(tmp_path / ".env")["LIFTOFF_UI_USERS"]
    assert users is not None
    ui = UiSettings(_env_file=None, host="0.0.0.0", users=users)  # as in its container
    assert ui.auth_required and ui.check_password("ana", "correct-horse-battery")


def test_compose_postgres_lines_name_one_database(tmp_path: Path) -> None:
    """Once: .env lines, which keys cannot change. Compose itself needs Docker; what can be
    checked here is that the lines, ``...`` filled in alike, make a URL the retrieval service
    accepts and that names the ``pgvector`` profile's Postgres, its user, database and password."""
    lines = [deploy_doc(r"LIFTOFF_POSTGRES_PASSWORD=\.\.\.$"),
             deploy_doc(r"LIFTOFF_RAG_DATABASE_URL=postgresql://")]  # fmt: skip
    env_file = tmp_path / ".env"
    shutil.copy(REPO / ".env.example", env_file)
    with env_file.open("a") as appended:  # the comment says: in .env
        appended.writelines(line.replace("...", "pg-Secret-1") + "\n" for line in lines)
    values = dotenv_values(env_file)
    url = urlsplit(values["LIFTOFF_RAG_DATABASE_URL"] or "")
    postgres = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["postgres"]
    assert "pgvector" in postgres["profiles"]
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == postgres["environment"]["POSTGRES_USER"]
    assert url.path == "/" + postgres["environment"]["POSTGRES_DB"]
    assert url.password == values["LIFTOFF_POSTGRES_PASSWORD"] == "pg-Secret-1"
    assert "${LIFTOFF_POSTGRES_PASSWORD" in postgres["environment"]["POSTGRES_PASSWORD"]
    url_line = {"LIFTOFF_RAG_DATABASE_URL": values["LIFTOFF_RAG_DATABASE_URL"]}
    settings = RetrievalSettings(_env_file=None, **url_line)  # type: ignore[arg-type]
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url_line["LIFTOFF_RAG_DATABASE_URL"]


def test_deploy_rag_ingest_from_the_host(stack: Stack, tmp_path: Path) -> None:
    """Compose's retrieval service is the stack's here; ``docs/`` is the reader's folder."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "leave.md").write_text("# Leave\n\nAsk your manager two weeks ahead.\n")
    command = deploy_doc(r"liftoff rag ingest docs/ --collection handbook")
    env = shell_env(KEY=stack.key, LIFTOFF_RAG_URL=stack.retrieval)
    output = sh(command, env, cwd=tmp_path)
    assert "created collection handbook" in output
    assert re.search(r"^handbook: 1 \w+; 1 chunks in the documents sent$", output, re.M), output
    if stack.key:
        assert stack.key not in output


def test_vertex_sdk_snippet_predicts(stack: Stack, tmp_path: Path) -> None:
    """docs/deploy.md's ``google-cloud-aiplatform`` snippet, whole, through the fake Vertex AI
    endpoint to this stack's gateway as the custom container. What a reader has and this
    machine lacks comes first: Google's endpoint (over REST; the fake speaks no gRPC) and
    gcloud's credentials, given to ``aiplatform.init`` (its later ``init`` keeps them) as in
    tests/api/test_vertex_endpoint_predict.py, and refreshable as gcloud's are: google-auth
    refreshes once on a 401 before the SDK reports it; the placeholders are the fake's; the
    expressions the docs show are printed.

    A Vertex AI endpoint sends the container no gateway key (``deploy.py`` turns keys off): a
    gateway with keys on refuses every prediction, which the SDK reports as a 401."""
    vertex = FakeVertexEndpoint(container_url=stack.api)
    snippet = deploy_doc(r"from google\.cloud import aiplatform")
    with serve_in_thread(vertex.app(), ready_path="/") as url:
        token = next(iter(vertex.access_tokens))
        script = "\n".join([
            "import datetime as _datetime",
            "from google.cloud import aiplatform as _aiplatform",
            "from google.oauth2.credentials import Credentials as _Credentials",
            "def _gcloud_refresh(request, scopes):  # gcloud's refresh: a token Vertex accepts",
            "    now = _datetime.datetime.now(_datetime.timezone.utc).replace(tzinfo=None)",
            f"    return {token!r}, now + _datetime.timedelta(hours=1)",
            f"_aiplatform.init(api_endpoint={url!r}, api_transport='rest',",
            f"                 credentials=_Credentials(token={token!r},",
            "                                          refresh_handler=_gcloud_refresh))",
            f"PROJECT, REGION, ENDPOINT_ID = {vertex.project!r}, {vertex.location!r}, "
            f"{vertex.endpoint_id!r}",
            snippet,
            "print(repr(prediction.predictions[0]))",
            "print(prediction.deployed_model_id, prediction.model_resource_name)",
        ])  # fmt: skip
        (tmp_path / "predict.py").write_text(script)
        result = _bash("python3 predict.py", shell_env(), cwd=tmp_path, timeout=180)
    output = result.stdout + result.stderr
    if stack.key:
        assert result.returncode == 1 and "Unauthorized: 401" in output, output
        return
    assert result.returncode == 0, output
    first, ids = result.stdout.strip().splitlines()[-2:]
    answer = ast.literal_eval(first)
    assert set(answer) == {"content", "finish_reason", "usage"}
    assert answer["finish_reason"] in ("stop", "length") and "\n" not in answer["content"]
    assert all(isinstance(n, float) for n in answer["usage"].values())  # doubles, as shown
    assert ids == f"{vertex.deployed_model_id} {vertex.model_name}"
    assert vertex.forwarded[-1]["parameters"]["maxOutputTokens"] == 32.0


def test_make_lint_passes() -> None:
    """Once: lint reads files, not the gateway; its keys cannot change the outcome."""
    sh(inline("README.md", "make lint"), shell_env(), timeout=600)
