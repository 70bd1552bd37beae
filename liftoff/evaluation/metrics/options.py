"""Options of a scoring run: one pydantic model, unknown keys rejected.

    >>> options = ScoreOptions.model_validate({"rouge": {"use_stemmer": True}, "workers": 1})
    >>> options.rouge.use_stemmer, options.bootstrap.resamples, options.bootstrap.seed
    (True, 1000, 12345)
    >>> options.meteor.tokenize, options.abstention.phrase
    ('nltk-word', "I don't know")

Everything else (BLEU's 13a tokenizer and ``exp`` smoothing, chrF's character 6-grams, TER's
tercom settings, METEOR's alpha 0.9 / beta 3 / gamma 0.5) is fixed to the reference
libraries' defaults, so a score means the same thing everywhere; signatures record every
option (``stem:yes``, ``tok:nltk-word-tokenize``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liftoff.evaluation.metrics.passages import words

AUTO_PARALLEL_MIN_EXAMPLES = 2000  # below this, starting processes costs more than it saves
AUTO_MAX_WORKERS = 2


class RougeOptions(BaseModel):
    """``use_stemmer``: Porter-stem tokens longer than 3 characters, as rouge-score does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use_stemmer: bool = False


MeteorTokenization = Literal["nltk-word", "nltk-word-tokenize"]


class MeteorOptions(BaseModel):
    """``tokenize``: how METEOR splits texts into words (the signature's ``tok:``).

    * ``"nltk-word"`` (default): ``NLTKWordTokenizer().tokenize`` over the whole text, as one
      sentence: ``"centre. It"`` gives ``centre.``, ``It``.
    * ``"nltk-word-tokenize"``: ``nltk.word_tokenize``, which first splits sentences with
      NLTK's English Punkt model (``punkt_tab``), then tokenizes each: ``centre``, ``.``,
      ``It``. This is what Hugging Face ``evaluate``'s ``meteor`` and most published "NLTK
      METEOR" numbers use; it needs the ``punkt_tab`` data
      (``python -m liftoff.evaluation.punkt``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokenize: MeteorTokenization = "nltk-word"


class AbstentionOptions(BaseModel):
    """``phrase``: what an answer begins with when it abstains (compared on its words: case,
    punctuation and the kind of apostrophe do not matter; see
    :mod:`~liftoff.evaluation.metrics.abstention`). The retrieval service's is the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phrase: str = Field(default="I don't know", min_length=1, max_length=200)

    @field_validator("phrase")
    @classmethod
    def _has_words(cls, phrase: str) -> str:
        if not words(phrase):
            raise ValueError("the phrase has no letters or digits to match")
        return phrase


class BootstrapOptions(BaseModel):
    """Percentile bootstrap for the 95% confidence interval of each corpus score.

    ``resamples=0`` turns intervals off. The same ``seed`` draws the same resamples for every
    metric, so intervals are reproducible and paired across metrics.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    resamples: int = Field(default=1000, ge=0, le=100_000)
    seed: int = Field(default=12345, ge=0)


class ScoreOptions(BaseModel):
    """All options of :func:`liftoff.evaluation.metrics.score`.

    ``workers``: processes computing per-example statistics; ``"auto"`` uses up to two on
    large corpora where forking is safe (POSIX, single-threaded caller). Scores never depend on it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rouge: RougeOptions = RougeOptions()
    meteor: MeteorOptions = MeteorOptions()
    abstention: AbstentionOptions = AbstentionOptions()
    bootstrap: BootstrapOptions = BootstrapOptions()
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = "auto"

    def worker_count(self, examples: int, cpus: int) -> int:
        """How many processes to use for ``examples`` examples on a machine with ``cpus``."""
        if self.workers != "auto":
            return self.workers
        if examples < AUTO_PARALLEL_MIN_EXAMPLES:
            return 1
        return max(1, min(cpus, AUTO_MAX_WORKERS))
