"""Stems and synonym sets as NLTK 3.10.4's METEOR gets them, each cached per word.

Part of the METEOR accelerator (:mod:`.meteor`, pinned to nltk 3.10.4 with it).

* ``stem``: NLTK's ``PorterStemmer().stem``, METEOR's default stemmer.
* ``synonyms``: what ``meteor_score`` collects for a word, namely the names without ``_`` of
  the lemmas of ``wordnet.synsets(word)``, plus the word itself.

``synsets()`` builds a full ``Synset`` (pointers, gloss, examples, lemma objects) from each
data line, which is most of METEOR's run time; only lemma names are needed. So ``synonyms``
keeps NLTK's lookup (``_morphy`` forms, then offsets from NLTK's lemma index) and reads the
names from the same data line with NLTK's own parsing steps. Anything unexpected in a line
goes through NLTK's ``synset_from_pos_and_offset`` instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

_SYNTACTIC_MARKER = re.compile(r"(.*?)(\([^()]*\))?$")  # NLTK's, in _synset_from_pos_and_line
_CACHE = 1 << 17


class Lexicon:
    """Stemmer and synonym sets over one NLTK WordNet reader."""

    def __init__(self, wordnet: Any) -> None:
        from nltk.corpus.reader.wordnet import POS_LIST
        from nltk.stem.porter import PorterStemmer

        self.wordnet = wordnet
        self._pos_list: list[str] = list(POS_LIST)
        self._data: dict[str, bytes] = {}
        self._names_cache: dict[tuple[str, int], tuple[str, ...]] = {}
        self.stem: Callable[[str], str] = functools.lru_cache(maxsize=_CACHE)(PorterStemmer().stem)
        self.synonyms: Callable[[str], frozenset[str]] = functools.lru_cache(maxsize=_CACHE)(
            self._synonyms
        )

    def _synonyms(self, word: str) -> frozenset[str]:
        reader = self.wordnet
        index = reader._lemma_pos_offset_map
        lemma = word.lower()  # as synsets() does
        names: set[str] = set()
        for pos in self._pos_list:
            for form in reader._morphy(lemma, pos, True):
                for offset in index.get(form, {}).get(pos, []):
                    names.update(self.lemma_names(pos, offset))
        return frozenset({name for name in names if name.find("_") < 0} | {word})

    def lemma_names(self, pos: str, offset: int) -> tuple[str, ...]:
        """The names of the lemmas of ``wordnet.synset_from_pos_and_offset(pos, offset)``."""
        key = (pos, offset)
        names = self._names_cache.get(key)
        if names is None:
            names = self._read_names(pos, offset)
            self._names_cache[key] = names
        return names

    def _read_names(self, pos: str, offset: int) -> tuple[str, ...]:
        part = "a" if pos == "s" else pos  # satellites live in data.adj
        data = self._data.get(part)
        if data is None:
            with self.wordnet.abspath(f"data.{self.wordnet._FILEMAP[part]}").open() as stream:
                data = stream.read()
            self._data[part] = data
        end = data.find(b"\n", offset)
        line = data[offset : None if end < 0 else end + 1].decode("utf-8")
        try:
            if line[:8] != f"{offset:08d}":
                raise ValueError(line[:8])
            columns, _gloss = line.strip().split("|")
            tokens = columns.split()
            count = int(tokens[3], 16)
            return tuple(
                _SYNTACTIC_MARKER.match(tokens[4 + 2 * k]).group(1)  # type: ignore[union-attr]
                for k in range(count)
            )
        except (ValueError, IndexError):
            synset = self.wordnet.synset_from_pos_and_offset(pos, offset)
            return tuple(lemma.name() for lemma in synset.lemmas())


@functools.lru_cache(maxsize=2)
def lexicon(wordnet: Any) -> Lexicon:
    """The (process-wide) lexicon of a WordNet reader."""
    return Lexicon(wordnet)
