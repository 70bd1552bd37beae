"""No secret in any settings error, through every entry point, for every service's settings.

The probe's input: ``LIFTOFF_BACKEND=openai OPENAI_API_KEY=sk-... liftoff api`` with a
settings error printed the raw key (pydantic's ``input_value``), and so did gateway keys, in
``liftoff api``, ``liftoff up``, ``liftoff tunnel`` and ``uvicorn liftoff.api.main:app``.
Each run below sets every secret Liftoff reads, breaks one setting, and greps all the output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from liftoff.server.connections import UVICORN_OPTIONS
from tests.servers import REPO, free_port

SECRETS = {
    "LIFTOFF_API_KEYS": "sk-gateway-key-0a1b2c",
    "OPENAI_API_KEY": "sk-upstream-key-3d4e5f",
    "LIFTOFF_EVAL_API_KEYS": "sk-eval-key-6a7b8c",
    "LIFTOFF_EVAL_TARGET_API_KEY": "sk-eval-target-9d0e1f",
    "NGROK_AUTHTOKEN": "ngrok-token-2a3b4c",
    "OPENAI_BASE_URL": "http://user:url-password-5d6e7f@127.0.0.1:9/v1",
    "LIFTOFF_RAG_API_KEYS": "sk-rag-key-8e9f0a",
    "LIFTOFF_RAG_DATABASE_URL": "postgresql://rag:db-password-1b2c3d@127.0.0.1:9/rag",
    "LIFTOFF_UI_USERS": "ana:ui-password-4e5f6a",
    "LIFTOFF_UI_AUTH_SECRET": "ui-cookie-secret-7b8c9d",
}

# What each mistake breaks: the gateway's settings, or the evaluation service's.
GATEWAY = {
    "a check across fields": {"LIFTOFF_BACKEND": "openai", "OPENAI_BASE_URL": ""},
    "a bad value": {"LIFTOFF_PORT": "eighty"},
    "a secret in the wrong variable": {"LIFTOFF_PORT": SECRETS["LIFTOFF_API_KEYS"]},
    "a bad route": {"AIP_HEALTH_ROUTE": SECRETS["OPENAI_API_KEY"]},
}
EVALUATION = {
    "a URL with credentials and a bad scheme": {
        "LIFTOFF_EVAL_TARGET": "ftp://user:eval-url-password-8a9b0c@host/v1"
    },
    # Fine for the gateway's own upstream, refused as the evaluation service's target.
    "a target URL with credentials": {"OPENAI_BASE_URL": SECRETS["OPENAI_BASE_URL"]},
    "a secret in the wrong variable": {
        "LIFTOFF_EVAL_CONCURRENCY": SECRETS["LIFTOFF_EVAL_API_KEYS"]
    },
    "exposed without keys": {"LIFTOFF_EVAL_HOST": "0.0.0.0", "LIFTOFF_EVAL_API_KEYS": ""},
}

RETRIEVAL = {
    "a bad value": {"LIFTOFF_RAG_CHUNK_SIZE": SECRETS["LIFTOFF_RAG_API_KEYS"]},
    "a URL with credentials and a bad scheme": {
        "LIFTOFF_RAG_GATEWAY_URL": "ftp://user:rag-url-password-2d3e4f@host/v1"
    },
    "a database URL that is not Postgres": {
        "LIFTOFF_RAG_DATABASE_URL": "mysql://rag:db-password-5a6b7c@host/rag"
    },
    "exposed without keys": {
        "LIFTOFF_RAG_HOST": "0.0.0.0",
        "LIFTOFF_RAG_API_KEYS": "",
        "LIFTOFF_API_KEYS": "",
    },
}
UI = {
    "a short password": {"LIFTOFF_UI_USERS": "ana:short,bob:ui-password-8c9d0e"},
    "a secret in the wrong variable": {"LIFTOFF_UI_PORT": SECRETS["LIFTOFF_UI_AUTH_SECRET"]},
    "a header name that is a secret": {"LIFTOFF_UI_AUTH_HEADER": "ui-header-secret-1f2a3b!"},
    "exposed without a login": {"LIFTOFF_UI_HOST": "0.0.0.0", "LIFTOFF_UI_USERS": ""},
}

PY = sys.executable


def _uvicorn(app: str) -> list[str]:
    return [PY, "-m", "uvicorn", app, "--port", str(free_port()), *UVICORN_OPTIONS]


ENTRY_POINTS = {
    "liftoff api": ([PY, "-m", "liftoff", "api"], GATEWAY),
    "liftoff up": ([PY, "-m", "liftoff", "up"], GATEWAY),
    "liftoff tunnel": ([PY, "-m", "liftoff", "tunnel"], GATEWAY),
    "liftoff doctor": ([PY, "-m", "liftoff", "doctor"], GATEWAY),
    "uvicorn liftoff.api.main:app": (_uvicorn("liftoff.api.main:app"), GATEWAY),
    "uvicorn liftoff.evaluation.main:app": (_uvicorn("liftoff.evaluation.main:app"), EVALUATION),
    "uvicorn liftoff.retrieval.main:app": (_uvicorn("liftoff.retrieval.main:app"), RETRIEVAL),
    "python -m liftoff.ui": ([PY, "-m", "liftoff.ui"], UI),
    "uvicorn liftoff.ui.main:app": (_uvicorn("liftoff.ui.main:app"), UI),
    # The CLI serves nothing: where the service would bind is not its business.
    "liftoff eval run": (
        [PY, "-m", "liftoff", "eval", "run", "data.jsonl"],
        {k: v for k, v in EVALUATION.items() if k != "exposed without keys"},
    ),
}
CASES = [
    pytest.param(command, mistakes, mistake, id=f"{name}: {label}")
    for name, (command, mistakes) in ENTRY_POINTS.items()
    for label, mistake in mistakes.items()
]


@pytest.mark.parametrize(("command", "mistakes", "mistake"), CASES)
def test_settings_errors_never_print_a_secret(
    command: list[str], mistakes: dict[str, dict[str, str]], mistake: dict[str, str]
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIFTOFF_", "OPENAI_"))}
    # The evaluation service refuses credentials in its target URL: a mistake of its own.
    secrets = {
        k: v for k, v in SECRETS.items() if mistakes is not EVALUATION or k != "OPENAI_BASE_URL"
    }
    env = {**clean, **secrets, **mistake}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # Every secret above ends in "<kind>-<six hex digits>": keys, passwords, tokens.
    secret = re.compile(r"[\w-]*(?:key|password|secret|token)-[0-9a-f]{6}")
    values = " ".join([*SECRETS.values(), *mistake.values()])
    leaked = [token for token in secret.findall(values) if token in output]
    assert not leaked, output
    assert "input_value" not in output and "Traceback" not in output, output
    named = [name for name in mistake if name in output]
    assert named, f"no variable at fault named in:\n{output}"
