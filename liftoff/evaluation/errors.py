"""The evaluation package's exceptions.

    EvaluationError                 base of everything raised on purpose here
     ├── InvalidInput (ValueError)  predictions, references, metric names or options are wrong;
     │                              ``param`` names the offending argument
     └── WordNetUnavailable         METEOR cannot find WordNet 3.0; the message gives the fix

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


class WordNetUnavailable(EvaluationError, RuntimeError):
    """WordNet 3.0 is not installed where NLTK can read it, and could not be provisioned."""
