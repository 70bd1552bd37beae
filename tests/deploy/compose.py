"""A Compose project as Docker Compose sees it: YAML (merge keys included), variable
interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``, nested), profiles,
network aliases and the ports each service listens on."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import dockerfiles
from tests.deploy.tools import REPO

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
URL = re.compile(r"\bhttps?://([A-Za-z0-9.-]+):(\d+)")


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


@dataclass(frozen=True)
class Reference:
    name: str
    operator: str | None  # None, ":-", "-", ":?", "?", ":+", "+"


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unclosed ${{ in {text!r}")


def _split(expression: str) -> tuple[str, str | None, str]:
    match = NAME.match(expression)
    if match is None:
        raise ValueError(f"bad variable reference ${{{expression}}}")
    rest = expression[match.end() :]
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            return match.group(), operator, rest[len(operator) :]
    if rest:
        raise ValueError(f"bad variable reference ${{{expression}}}")
    return match.group(), None, ""


def references(text: str) -> Iterator[Reference]:
    """Every variable reference in ``text``, nested ones included."""
    index = 0
    while (index := text.find("${", index)) != -1:
        if index > 0 and text[index - 1] == "$":
            index += 2
            continue
        end = _closing_brace(text, index + 1)
        name, operator, argument = _split(text[index + 2 : end])
        yield Reference(name, operator)
        yield from references(argument)
        index = end + 1


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _closing_brace(text, index + 1)
            out.append(_expand(text[index + 2 : end], env))
            index = end + 1
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _expand(expression: str, env: Mapping[str, str]) -> str:
    name, operator, argument = _split(expression)
    value = env.get(name)
    unset = value is None or (value == "" and operator is not None and operator.startswith(":"))
    if operator in (":-", "-"):
        return interpolate(argument, env) if unset else str(value)
    if operator in (":?", "?"):
        if unset:
            raise MissingVariable(f"{name}: {interpolate(argument, env)}")
        return str(value)
    if operator in (":+", "+"):
        return "" if unset else interpolate(argument, env)
    return value or ""


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


def load_raw(*paths: Path) -> dict[str, Any]:
    """The files merged as `docker compose -f a -f b` does (maps merged, the rest replaced)."""
    project: dict[str, Any] = {}
    for path in paths:
        project = _merge(project, yaml.safe_load(path.read_text(encoding="utf-8")))
    return project


@dataclass
class Service:
    name: str
    spec: dict[str, Any]

    @property
    def profiles(self) -> set[str]:
        return set(self.spec.get("profiles", []))

    def enabled(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles

    @property
    def aliases(self) -> set[str]:
        names = {self.name}
        for network in (self.spec.get("networks") or {}).values():
            names |= set((network or {}).get("aliases", []))
        return names

    @property
    def environment(self) -> dict[str, str]:
        env = self.spec.get("environment") or {}
        if isinstance(env, list):
            return dict(item.partition("=")[::2] for item in env)
        return {key: "" if value is None else str(value) for key, value in env.items()}

    @property
    def dockerfile(self) -> dockerfiles.Dockerfile | None:
        build = self.spec.get("build")
        if not build:
            return None
        context = REPO / build.get("context", ".")
        return dockerfiles.parse(context / build.get("dockerfile", "Dockerfile"))

    @property
    def published(self) -> list[str]:
        return [str(port) for port in self.spec.get("ports", [])]

    @property
    def listens_on(self) -> set[int]:
        """Container ports: `expose`, the targets of `ports`, and the image's EXPOSE."""
        ports = {int(str(port).split("/")[0]) for port in self.spec.get("expose", [])}
        ports |= {int(port.rsplit(":", 1)[-1].split("/")[0]) for port in self.published}
        if self.dockerfile is not None:
            ports |= self.dockerfile.exposed_ports()
        return ports

    def urls(self) -> Iterator[tuple[str, int]]:
        """(host, port) of every URL in the environment and the command."""
        texts = list(self.environment.values()) + [str(arg) for arg in self.spec.get("command", [])]
        for text in texts:
            for host, port in URL.findall(text):
                yield host, int(port)


class Project:
    def __init__(self, raw: dict[str, Any], env: Mapping[str, str]) -> None:
        self.raw = raw
        self.tree = _interpolate_tree(raw, env)
        self.services = {name: Service(name, spec) for name, spec in self.tree["services"].items()}

    @property
    def profiles(self) -> set[str]:
        return set().union(*(service.profiles for service in self.services.values()))

    def enabled(self, profile: str) -> list[Service]:
        return [service for service in self.services.values() if service.enabled(profile)]


def load(*paths: Path, env: Mapping[str, str]) -> Project:
    return Project(load_raw(*paths), env)


def env_example(path: Path = REPO / ".env.example") -> dict[str, str]:
    """The variables .env.example documents, with their example values."""
    variables = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def tree_references(node: Any) -> Iterator[Reference]:
    """Variable references in every string of a parsed (not yet interpolated) file."""
    if isinstance(node, str):
        yield from references(node)
    elif isinstance(node, list):
        for item in node:
            yield from tree_references(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from tree_references(value)
