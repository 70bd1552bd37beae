"""METEOR exactly as NLTK computes it, on a 0-1 scale.

Per example: ``nltk.translate.meteor_score.meteor_score([tokens(r) for r in references],
tokens(prediction), wordnet=wordnet)`` with NLTK's defaults (lowercasing, Porter stemmer,
WordNet 3.0, alpha 0.9, beta 3, gamma 0.5): the best score over the references. ``tokens``
is the tokenization the options name (signature ``tok:``): ``NLTKWordTokenizer().tokenize``
(``nltk-word``, the default) or ``nltk.word_tokenize`` (``nltk-word-tokenize``: Punkt
sentences first). Corpus: the mean of per-example scores.

With the NLTK version it mirrors, :mod:`~liftoff.evaluation.metrics.accelerators.meteor`
computes the scores (several times faster); with any other, NLTK does. WordNet comes from
:mod:`liftoff.evaluation.wordnet` and Punkt from :mod:`liftoff.evaluation.punkt`; without them
METEOR raises :class:`~liftoff.evaluation.errors.WordNetUnavailable` or
:class:`~liftoff.evaluation.errors.PunktUnavailable` naming the fix, never a different number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from liftoff.evaluation.metrics.accelerators import meteor as accelerated
from liftoff.evaluation.metrics.base import MeanMetric, References, Row, package_version
from liftoff.evaluation.punkt import PUNKT_LANGUAGE, load_punkt
from liftoff.evaluation.wordnet import WORDNET_VERSION, load_wordnet

ALPHA, BETA, GAMMA = accelerated.ALPHA, accelerated.BETA, accelerated.GAMMA


class Meteor(MeanMetric):
    """NLTK METEOR; a row holds the example's score."""

    names: ClassVar[tuple[str, ...]] = ("meteor",)
    scale: ClassVar[float] = 1.0

    def prepare(self) -> None:
        # Fails loudly, before any work, when Punkt or WordNet cannot be provisioned.
        sentences = self._sentence_splitter()
        wordnet = load_wordnet()
        if accelerated.UPSTREAM.active():
            accelerated.prepare(wordnet, sentences)

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        wordnet = load_wordnet()
        sentences = self._sentence_splitter()
        if accelerated.UPSTREAM.active():
            return list(accelerated.meteor_rows(predictions, references, wordnet, sentences))
        from nltk.translate.meteor_score import meteor_score

        tokenize = self._library_tokenizer()
        return [
            [meteor_score([tokenize(ref) for ref in refs], tokenize(prediction), wordnet=wordnet)]
            for prediction, refs in zip(predictions, references, strict=True)
        ]

    def _sentence_splitter(self) -> Callable[[str], list[str]] | None:
        """NLTK's ``sent_tokenize`` (English Punkt) for ``nltk-word-tokenize``, else none."""
        if self.options.meteor.tokenize == "nltk-word":
            return None
        load_punkt()
        from nltk.tokenize import sent_tokenize

        split: Callable[[str], list[str]] = sent_tokenize
        return split

    def _library_tokenizer(self) -> Callable[[str], list[str]]:
        if self.options.meteor.tokenize == "nltk-word":
            from nltk.tokenize import NLTKWordTokenizer

            tokenize: Callable[[str], list[str]] = NLTKWordTokenizer().tokenize
            return tokenize
        from nltk.tokenize import word_tokenize

        return lambda text: list(word_tokenize(text, language=PUNKT_LANGUAGE))

    def value_column(self, name: str) -> int:
        return 0

    def signature_fields(self, name: str) -> dict[str, Any]:
        return {
            "tok": self.options.meteor.tokenize,
            "case": "lc",
            "stem": "porter",
            "wordnet": WORDNET_VERSION,
            "alpha": ALPHA,
            "beta": BETA,
            "gamma": GAMMA,
            "agg": "mean",
        }

    def version(self) -> str:
        return f"nltk-{package_version('nltk')}"
