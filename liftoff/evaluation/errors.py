"""The evaluation package's exceptions.

    EvaluationError                 base of everything raised on purpose here
     ├── InvalidInput (ValueError)  predictions, references, metric names or options are wrong;
     │                              ``param`` names the offending argument
     └── DataUnavailable            data a metric needs is missing; the message gives the fix
          ├── WordNetUnavailable    METEOR cannot find WordNet 3.0
          └── PunktUnavailable      METEOR's ``nltk-word-tokenize`` cannot find NLTK's Punkt

Messages say what was wrong and, where there is one, the command that fixes it.
"""

from __future__ import annotations


class EvaluationError(Exception):
    """Something the evaluation package refuses to do, with a message saying why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(EvaluationError, ValueError):
    """The caller's input is wrong: ``param`` names the argument (``predictions``, ...)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class DataUnavailable(EvaluationError, RuntimeError):
    """Data a metric is defined on is not installed where NLTK can read it."""


class WordNetUnavailable(DataUnavailable):
    """WordNet 3.0 is not installed where NLTK can read it, and could not be provisioned."""


class PunktUnavailable(DataUnavailable):
    """NLTK's English Punkt model (``punkt_tab``) is missing, or is not the verified one."""
