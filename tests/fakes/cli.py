"""FAKE command-line tools (``gcloud``, ``kubectl``) for running deploy workflow steps offline.

Google Cloud and a cluster cannot be reached from a build machine, so a workflow step's shell
script runs for real with fakes of these commands first on ``PATH``. Each fake is an
executable that records its arguments (and the contents of any file an argument names, as
``kubectl create secret --from-file=KEY=PATH`` reads them) and answers from rules: the first
rule whose ``when`` words all appear among the arguments prints its ``stdout``/``stderr`` and
exits with its ``exit`` code; no matching rule answers nothing and exits 0. Standard input is
read and kept, so pipelines into the fake never break.

    fakes = FakeCli(tmp_path / "bin")
    fakes.add("gcloud", [Rule(["services", "list"], stdout="liftoff\\n")])
    ...                                 # run the step with fakes.directory first on PATH
    assert fakes.calls("gcloud")[0].argv[:3] == ["run", "services", "list"]
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

_PROGRAM = """\
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
name = os.path.basename(sys.argv[0])
argv = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
files = {}
for arg in argv:
    path = arg.rpartition("=")[2]
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            files[path] = handle.read()
with open(os.path.join(here, name + ".calls.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps({"argv": argv, "stdin": stdin, "files": files}) + "\\n")
with open(os.path.join(here, name + ".rules.json"), encoding="utf-8") as handle:
    rules = json.load(handle)
for rule in rules:
    if all(word in argv for word in rule["when"]):
        sys.stdout.write(rule["stdout"])
        sys.stderr.write(rule["stderr"])
        sys.exit(rule["exit"])
"""


@dataclass
class Rule:
    when: list[str]
    stdout: str = ""
    stderr: str = ""
    exit: int = 0


@dataclass(frozen=True)
class Call:
    argv: list[str]
    stdin: str
    files: dict[str, str] = field(default_factory=dict)


class FakeCli:
    """A directory of fake commands; put it first on ``PATH``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, rules: list[Rule] | None = None) -> None:
        program = self.directory / name
        program.write_text(f"#!{sys.executable}\n{_PROGRAM}", encoding="utf-8")
        program.chmod(0o755)
        rules_file = self.directory / f"{name}.rules.json"
        rules_file.write_text(json.dumps([asdict(rule) for rule in rules or []]), encoding="utf-8")

    def calls(self, name: str) -> list[Call]:
        log = self.directory / f"{name}.calls.jsonl"
        if not log.exists():
            return []
        return [Call(**json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]
