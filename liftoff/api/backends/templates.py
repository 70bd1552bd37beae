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
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    template = reader.get_field(CHAT_TEMPLATE_KEY)
    architecture = reader.get_field("general.architecture")
    return (
        str(template.contents()) if template is not None else "",
        str(architecture.contents()) if architecture is not None else "",
    )
