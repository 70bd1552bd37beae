# ruff: noqa: E501, RUF001
"""A small corpus that exercises every edge the reference libraries handle.

Accents, non-Latin scripts, punctuation, contractions, quotes, HTML entities, numbers,
empty and whitespace-only strings, one to four references per example, multi-line
summaries (ROUGE-Lsum), repeated words (TER shifts), long sentences (TER's beam) and
synonyms / inflections (METEOR's stem and WordNet stages).
"""

from __future__ import annotations

_LONG_REF = " ".join(f"w{k % 23} token{k % 7}" for k in range(45))
_LONG_HYP = " ".join(f"w{(k * 5) % 23} token{k % 7}" for k in range(52))

EXAMPLES: list[tuple[str, list[str]]] = [
    (
        "The quick brown fox leaps over the lazy dog.",
        ["A fast brown fox jumps over a lazy dog.", "The quick brown fox jumped over the dog."],
    ),
    ("It is a guide to action which ensures that the military always obeys the commands of the party.",
     ["It is a guide to action that ensures that the military will forever heed Party commands.",
      "It is the guiding principle which guarantees the military forces always being under the command of the Party.",
      "It is the practical guide for the army always to heed the directions of the party."]),
    ("Le café était très bon, n'est-ce pas ?", ["Le café était vraiment délicieux, non ?"]),
    ("Der Bäcker backt frische Brötchen für die Straße.", ["Der Bäcker bäckt frische Brötchen."]),
    ("我喜欢自然语言处理。", ["我很喜欢自然语言处理！", "自然语言处理很有趣。"]),
    ("東京は日本の首都です", ["日本の首都は東京です"]),
    ("Привет, как дела? Всё хорошо.", ["Привет! Как твои дела?"]),
    ("مرحبا بالعالم", ["مرحبا يا عالم"]),
    ("नमस्ते दुनिया", ["नमस्ते संसार"]),
    ("Γειά σου κόσμε", ["Γεια σου, κόσμε!"]),
    ("안녕하세요 세계", ["안녕 세계"]),
    ("Wait... what?! (really) -- yes; #1 @home 50% & more: $3.50, 1,000.5 items.",
     ["Wait -- what? Really: yes; #1 at home, 50% and more: $3.50 for 1,000.5 items!"]),
    ("I can't believe it's not butter, they'd say; we're gonna wanna go.",
     ["I cannot believe it is not butter, they would say."]),
    ('"Hello," she said. «Bonjour» — ‘quoted’ “double” ``tex\'\'', ["'Hello', she said: “Bonjour”."]),
    ("&amp; &lt;b&gt; bold &quot;text&quot;<skipped> x-1 state-of-the-art 3-4", ["& <b> bold \"text\" x - 1"]),
    ("", ["The reference is not empty."]),
    ("The prediction is not empty.", [""]),
    ("", [""]),
    ("   ", ["\t", "  \n "]),
    ("!!! ??? ...", ["!!!"]),
    ("🙂 emoji only 🚀", ["emoji 🙂 only"]),
    ("The cat sat on the mat.\nThe dog barked loudly.\n\nBirds were singing.",
     ["A cat was sitting on the mat.\nBirds sang.", "The dog barked.\nThe cat sat."]),
    ("one line summary", ["first line\nsecond line summary\nthird line"]),
    ("a b c a b c d e", ["d e a b c a b c"]),
    ("d e f g h a b c", ["a b c d e f g h"]),
    (_LONG_HYP, [_LONG_REF]),
    ("short", [_LONG_REF]),
    ("The children were running quickly towards the houses",
     ["The child runs quick toward the house", "Kids ran fast to their homes"]),
    ("UPPER lower MiXeD Case", ["upper LOWER mixed case"]),
    ("tabs\tand\r\nnewlines  and   spaces ", ["tabs and newlines and spaces"]),
    ("Niemand hat die Absicht, eine Mauer zu errichten",
     ["Niemand hat die Absicht, eine Mauer zu errichten"]),
    ("Mr. Smith paid $5.00 for 3.5 kg (approx.) at 10:30 a.m.",
     ["Mr Smith paid 5 dollars for 3.5 kilograms at 10:30 am.", "Smith paid $5 at 10:30."]),
]  # fmt: skip

PREDICTIONS: list[str] = [prediction for prediction, _ in EXAMPLES]
REFERENCES: list[list[str]] = [refs for _, refs in EXAMPLES]


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's corpus layout: stream k holds each example's k-th reference or ``None``."""
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
