"""Just enough of a Dockerfile reader for the wiring tests: instructions of the final stage."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for key, rest in self.instructions if key == keyword]


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def env(self) -> dict[str, str]:
        """The final stage's ENV, as the container starts with it."""
        env: dict[str, str] = {}
        for rest in self.final.all("ENV"):
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
        return env

    def cmd(self) -> list[str]:
        commands = self.final.all("CMD")
        value: list[str] = json.loads(commands[-1])
        return value

    def exposed_ports(self) -> set[int]:
        return {
            int(port.split("/")[0]) for rest in self.final.all("EXPOSE") for port in rest.split()
        }

    def copy_sources(self) -> list[str]:
        """Sources of COPY/ADD from the build context (not from other stages) in every stage."""
        sources = []
        for stage in self.stages:
            for key, rest in stage.instructions:
                if key not in ("COPY", "ADD"):
                    continue
                words = shlex.split(rest)
                if any(word.startswith("--from=") for word in words):
                    continue
                paths = [word for word in words if not word.startswith("--")]
                sources += paths[:-1]
        return sources

    def uv_syncs(self) -> list[list[str]]:
        """Arguments of every `uv sync` in RUN instructions."""
        syncs = []
        for stage in self.stages:
            for rest in stage.all("RUN"):
                for match in re.finditer(r"uv sync([^&;|]*)", rest):
                    syncs.append(shlex.split(match.group(1)))
        return syncs


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return Dockerfile(path, args, stages)
