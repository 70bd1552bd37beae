"""The commands the documentation shows, as a user would type them.

A documented command is:

- each command line of a ``bash`` code block in ``README.md`` and ``docs/deploy.md``
  (continuation lines joined, a trailing ``# comment`` dropped, a ``for ... done`` loop kept
  whole);
- each ``python`` code block, whole;
- each inline code span in the prose that names a ``make`` target or a ``liftoff`` command
  (``make lint``, ``liftoff doctor``): what the README's tables tell users to type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.servers import REPO

DOCUMENTS = ("README.md", "docs/deploy.md")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`((?:make|liftoff) [a-z][^`\n]*)`")
_COMPOUND = re.compile(r"^(for|while|if)\b")
_COMPOUND_END = ("done", "fi")


@dataclass(frozen=True)
class Documented:
    source: str  # the document, relative to the repository
    language: str  # "bash", "python" or "inline"
    text: str  # runnable as it stands (continuation lines kept)

    @property
    def normalized(self) -> str:
        """One line, single spaces: what coverage patterns match."""
        return " ".join(self.text.replace("\\\n", " ").split())

    def __str__(self) -> str:
        return f"{self.source}: {self.normalized}"


def documented_commands(documents: tuple[str, ...] = DOCUMENTS) -> list[Documented]:
    found: list[Documented] = []
    for source in documents:
        text = (REPO / source).read_text()
        for match in _FENCE.finditer(text):
            language, body = match.group(1), match.group(2)
            if language in ("bash", "sh", "shell", "console"):
                found += [Documented(source, "bash", line) for line in shell_commands(body)]
            elif language == "python":
                found.append(Documented(source, "python", body))
        prose = _FENCE.sub("", text)
        for span in dict.fromkeys(_INLINE.findall(prose)):
            found.append(Documented(source, "inline", span))
    return found


def shell_commands(block: str) -> list[str]:
    """The commands of a shell block: comments and blank lines dropped, continuations kept."""
    commands: list[str] = []
    current: list[str] = []
    compound = False
    for raw in block.splitlines():
        line = strip_comment(raw).rstrip()
        if not line.strip() and not current:
            continue
        current.append(line)
        if not compound and len(current) == 1 and _COMPOUND.match(line.strip()):
            compound = True
        if compound:
            if line.strip() in _COMPOUND_END:
                commands.append("\n".join(current))
                current, compound = [], False
        elif not line.endswith("\\"):
            commands.append("\n".join(current))
            current = []
    if current:
        commands.append("\n".join(current))
    return commands


def strip_comment(line: str) -> str:
    """``line`` without a ``# comment`` that starts outside quotes (after a blank or at the
    start), as the shell reads it."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def command_in(source: str, pattern: str) -> Documented:
    """The one command of ``source`` whose normalized text matches ``pattern`` (a regex, at
    the start); fails when there is none or more than one."""
    matches = [
        command
        for command in documented_commands((source,))
        if command.language != "inline" and re.match(pattern, command.normalized)
    ]
    assert len(matches) == 1, f"{source}: {len(matches)} commands match {pattern!r}: {matches}"
    return matches[0]


def inline(source: str, text: str) -> str:
    """``text``, checked to be a command the prose of ``source`` names."""
    named = [c.text for c in documented_commands((source,)) if c.language == "inline"]
    assert text in named, f"{source} no longer names `{text}`"
    return text


def readme(pattern: str) -> str:
    return command_in("README.md", pattern).text


def deploy_doc(pattern: str) -> str:
    return command_in("docs/deploy.md", pattern).text


def at_port(text: str, port: int, documented: int = 8000) -> str:
    """``text`` with the documented loopback port replaced (tests run on free ports)."""
    return text.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{port}")
