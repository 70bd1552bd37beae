"""deploy/vertex/deploy.py with ``--backend gemini``: the gateway as a Vertex AI endpoint in
front of Gemini on Vertex AI, calling it with the deployed model's service account."""

from __future__ import annotations

import sys

import pytest

from tests.deploy.tools import REPO, explain, run


def test_vertex_script_deploys_a_gemini_gateway_that_holds_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = run(
        [
            sys.executable, str(REPO / "deploy" / "vertex" / "deploy.py"),
            "--project", "p", "--region", "us-central1", "--image", "reg/liftoff-api:sha-1",
            "--backend", "gemini", "--model", "gemini-2.5-flash",
            "--service-account", "gw@p.iam.gserviceaccount.com", "--dry-run",
        ]
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    upload = next(line for line in result.stderr.splitlines() if "models upload" in line)
    env = dict(pair.split("=", 1) for pair in upload.split("^;^")[1].rstrip("'").split(";"))
    assert env == {
        "LIFTOFF_BACKEND": "gemini", "LIFTOFF_MODEL": "gemini-2.5-flash", "LIFTOFF_AUTH": "off",
        "GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_CLOUD_PROJECT": "p",
        "GOOGLE_CLOUD_LOCATION": "global",
    }  # fmt: skip
    from liftoff.api.config import Settings

    for name, value in env.items():  # the container's environment is a valid configuration
        monkeypatch.setenv(name, value)
    assert Settings().gemini_vertexai
    deploy = next(line for line in result.stderr.splitlines() if "deploy-model" in line)
    assert "--service-account=gw@p.iam.gserviceaccount.com" in deploy
