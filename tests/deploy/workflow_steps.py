"""Run one `run:` step of a workflow as GitHub's runner does, offline.

GitHub runs a Linux step's script with ``bash --noprofile --norc -eo pipefail {0}`` (the
default shell in "Workflow syntax for GitHub Actions", ``jobs.<job_id>.steps[*].shell``),
with the step's ``env`` and a ``GITHUB_OUTPUT`` file whose ``key=value`` lines become the
step's outputs. Here the script runs the same way in a scratch directory holding links to the
repository's ``scripts/`` and ``k8s/``; what it would call in the cloud is a fake from
``tests/fakes/cli.py`` first on ``PATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import BIN, REPO

WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return workflow


def step(workflow: str, job: str, name: str) -> dict[str, Any]:
    """The step of ``job`` whose name starts with ``name``."""
    (found,) = [
        s for s in load(workflow)["jobs"][job]["steps"] if s.get("name", "").startswith(name)
    ]
    return found


_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_OPERAND = re.compile(r"^(?:(vars|inputs|secrets|github)\.([A-Za-z_][A-Za-z0-9_]*)|'([^']*)')$")


def evaluate(text: str, contexts: Mapping[str, Mapping[str, str]]) -> str:
    """``text`` with its ``${{ }}`` expressions evaluated, for the forms deploy jobs use in
    ``env``: ``vars.X``, ``inputs.X``, ``secrets.X``, ``github.X``, ``'literal'`` and
    ``a || b`` (the first non-empty operand, as GitHub's ``||`` on strings). Anything else
    is an error here."""

    def one(match: re.Match[str]) -> str:
        for operand in match.group(1).split("||"):
            parsed = _OPERAND.match(operand.strip())
            if parsed is None:
                raise ValueError(f"expression not understood here: {match.group(0)}")
            context, name, literal = parsed.groups()
            value = literal if context is None else contexts.get(context, {}).get(name, "")
            if value:
                return value
        return ""

    return _EXPRESSION.sub(one, text)


def job_env(workflow: str, job: str, contexts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The job-level ``env`` of ``job`` as the runner would set it."""
    env = load(workflow)["jobs"][job].get("env", {})
    return {key: evaluate(str(value), contexts) for key, value in env.items()}


def step_env(found: dict[str, Any], contexts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The step's own ``env``, evaluated (``steps.*`` values must be given in contexts as
    ``steps`` keyed by ``id.outputs.name``)."""
    steps = contexts.get("steps", {})

    def step_value(match: re.Match[str]) -> str:
        return steps[match.group(1)]

    env: dict[str, str] = {}
    for key, value in found.get("env", {}).items():
        text = re.sub(r"\$\{\{\s*steps\.([\w.-]+)\s*\}\}", step_value, str(value))
        env[key] = evaluate(text, contexts)
    return env


@dataclass(frozen=True)
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]

    @property
    def log(self) -> str:
        return f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"


def run_step(
    found: dict[str, Any], env: Mapping[str, str], *, fakes: Path, workdir: Path
) -> StepResult:
    """Runs the step's script with ``env`` (in place of its ``${{ }}`` values)."""
    script: str = found["run"]
    assert "${{" not in script, "expressions inside run: are template injection; use env"
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("scripts", "k8s"):
        link = workdir / name
        if not link.exists():
            link.symlink_to(REPO / name)
    (workdir / "step.sh").write_text(script, encoding="utf-8")
    outputs = workdir / "github-output"
    outputs.write_text("", encoding="utf-8")
    path = os.pathsep.join([str(fakes), str(BIN), "/usr/local/bin", "/usr/bin", "/bin"])
    full_env = {
        "PATH": path,
        "HOME": str(workdir),
        "GITHUB_OUTPUT": str(outputs),
        "LANG": "C.UTF-8",
        **env,
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"],
        cwd=workdir,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    parsed = dict(
        line.split("=", 1)
        for line in outputs.read_text(encoding="utf-8").splitlines()
        if "=" in line
    )
    return StepResult(result.returncode, result.stdout, result.stderr, parsed)
