"""A FAKE ``ollama`` command line, for running the Ollama image's build step offline.

The real binary cannot run on a build machine. This one does, at the boundary the build
step uses, what the real one is documented and seen to do there: ``ollama serve`` creates
the server's key pair in ``$HOME/.ollama/`` (``id_ed25519``, ``id_ed25519.pub``) and logs to
its standard output until it is stopped; ``ollama list`` succeeds once a server is up;
``ollama pull NAME`` writes the model under ``$OLLAMA_MODELS`` (or fails when
``FAKE_OLLAMA_PULL_FAILS`` is set, with Ollama's message for an unknown name). The fake
records, in ``$FAKE_OLLAMA_STATE/serve.json``, the ``HOME`` the server ran with, the file its
log went to and its process id, so a test can look for what the step left behind.
"""

from __future__ import annotations

from pathlib import Path

_SCRIPT = r"""#!/bin/bash
state="${FAKE_OLLAMA_STATE:?}"
case "$1" in
serve)
    mkdir -p "$HOME/.ollama"
    printf 'PRIVATE KEY\n' > "$HOME/.ollama/id_ed25519"
    printf 'ssh-ed25519 AAAA\n' > "$HOME/.ollama/id_ed25519.pub"
    printf '{"home": "%s", "log": "%s", "pid": %d}\n' \
        "$HOME" "$(readlink "/proc/$$/fd/1")" "$$" > "$state/serve.json"
    echo 'time=2026-01-01T00:00:00Z level=INFO msg="Listening on 127.0.0.1:11434"'
    touch "$state/serving"
    trap 'rm -f "$state/serving"; exit 0' TERM INT
    while :; do sleep 0.05; done
    ;;
list)
    [ -e "$state/serving" ] || { echo "Error: could not connect to ollama app" >&2; exit 1; }
    echo "NAME    ID    SIZE    MODIFIED"
    ;;
pull)
    if [ -n "${FAKE_OLLAMA_PULL_FAILS:-}" ]; then
        echo "Error: pull model manifest: file does not exist" >&2
        exit 1
    fi
    mkdir -p "$OLLAMA_MODELS/manifests"
    printf '%s\n' "$2" > "$OLLAMA_MODELS/manifests/$2"
    echo success
    ;;
*)
    echo "fake ollama: unsupported command $1" >&2
    exit 2
    ;;
esac
"""


def install(directory: Path) -> Path:
    """Writes the fake as ``directory/ollama``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "ollama"
    program.write_text(_SCRIPT, encoding="utf-8")
    program.chmod(0o755)
    return program
