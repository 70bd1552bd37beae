"""Which chat template the embedded engine applies to a GGUF's chat requests.

In order:

1. ``LIFTOFF_CHAT_TEMPLATE``: a file holding a Jinja template, the Jinja source itself, or
   the name of one of llama.cpp's built-in templates (``gemma``, ``chatml``, ``llama3``...);
2. the GGUF's own template (its ``tokenizer.chat_template`` metadata), as Jinja, which is
   what the model was trained with;
3. for a GGUF without one (a base model, such as the packaged Gemma 3 270M), llama.cpp's
   built-in template of its family: ``gemma`` for Gemma, else ``chatml``, said in the log.

Jinja templates run in llama.cpp's own Jinja engine (``use_jinja``), as llama.cpp's server
does with ``--jinja``; built-in names run its hand-written formatters.

    >>> choose_template(Path("qwen2.5-0.5b-instruct-q4_k_m.gguf"), override="")
    ChatTemplate(jinja=True, template='', source="the GGUF's own chat template")
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

CHAT_TEMPLATE_KEY = "tokenizer.chat_template"


@dataclass(frozen=True)
class ChatTemplate:
    jinja: bool
    # Jinja source, or a built-in name; empty with jinja: the GGUF's own template.
    template: str
    source: str  # where it comes from, for the log

    @property
    def is_models_own(self) -> bool:
        return self.jinja and not self.template


def choose_template(gguf: Path, override: str) -> ChatTemplate:
    """The template for ``gguf``; ``override`` is ``LIFTOFF_CHAT_TEMPLATE`` (may be empty)."""
    if override:
        path = Path(override).expanduser()
        if "{{" in override or "{%" in override:
            return ChatTemplate(True, override, "LIFTOFF_CHAT_TEMPLATE (Jinja)")
        if path.is_file():
            return ChatTemplate(True, path.read_text(), f"LIFTOFF_CHAT_TEMPLATE ({path})")
        return ChatTemplate(False, override, f"llama.cpp's built-in {override!r} template")
    own, architecture = _read_metadata(gguf)
    if own:
        return ChatTemplate(True, "", "the GGUF's own chat template")
    builtin = "gemma" if architecture.startswith("gemma") else "chatml"
    return ChatTemplate(
        False,
        builtin,
        f"llama.cpp's built-in {builtin!r} template ({gguf.name} carries no chat template; "
        "LIFTOFF_CHAT_TEMPLATE names another)",
    )


def _read_metadata(gguf: Path) -> tuple[str, str]:
    """The GGUF's chat template (empty if none) and architecture, from its header."""
    values = read_string_metadata(gguf, {CHAT_TEMPLATE_KEY, "general.architecture"})
    return values.get(CHAT_TEMPLATE_KEY, ""), values.get("general.architecture", "")


# GGUF value types (ggml's docs/gguf.md): fixed sizes, 8 string, 9 array.
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def read_string_metadata(gguf: Path, keys: set[str]) -> dict[str, str]:
    """The string values of ``keys`` in a GGUF file's header, read without the rest.

    The format (ggml's ``docs/gguf.md``, versions 2 and 3): ``GGUF``, a u32 version, u64
    tensor and key-value counts, then key-value pairs, all little-endian; a string is a u64
    length and UTF-8 bytes, an array a u32 element type, a u64 count and the elements. The
    ``gguf`` library's reader parses every array (262,144 vocabulary strings for Gemma),
    which takes seconds; this skips them. Raises ``ValueError`` for a file that is not GGUF.
    """
    found: dict[str, str] = {}
    with gguf.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        magic, version, _tensors, pairs = struct.unpack_from("<4sIQQ", data, 0)
        if magic != b"GGUF" or version < 2:
            raise ValueError(f"{gguf} is not a GGUF file (version 2 or later)")
        at = 24
        for _ in range(pairs):
            key, at = _string(data, at)
            (kind,) = struct.unpack_from("<I", data, at)
            at += 4
            if kind == _STRING and key in keys:
                found[key], at = _string(data, at)
                if len(found) == len(keys):
                    break
            else:
                at = _skip(data, at, kind)
    return found


def _string(data: mmap.mmap, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", data, at)
    end = at + 8 + length
    return data[at + 8 : end].decode("utf-8", errors="replace"), end


def _skip(data: mmap.mmap, at: int, kind: int) -> int:
    """The offset after a value of type ``kind`` that starts at ``at``."""
    if kind in _SIZES:
        return at + _SIZES[kind]
    if kind == _STRING:
        (length,) = struct.unpack_from("<Q", data, at)
        return at + 8 + int(length)
    if kind != _ARRAY:
        raise ValueError(f"unknown GGUF value type {kind}")
    element, count = struct.unpack_from("<IQ", data, at)
    at += 12
    if element in _SIZES:
        return at + _SIZES[element] * int(count)
    if element == _STRING:
        length = struct.Struct("<Q").unpack_from
        for _ in range(count):
            at += 8 + length(data, at)[0]
        return int(at)
    for _ in range(count):
        at = _skip(data, at, element)
    return at
