"""Errors of runs: what the service answers with a 4xx and the CLI with exit 2 (or 1).

    EvaluationError (liftoff.evaluation.errors)
     ├── InvalidInput (ValueError)        the caller's input is wrong; ``param`` names it
     │    ├── DatasetError                a dataset row is wrong; the message names its line
     │    └── TargetError                 the target cannot be used: unreachable, refuses the
     │                                    key, does not serve the model
     ├── RunNotFound (LookupError)        no run with that id in the store
     ├── RunNotComparable                 a run is not finished, or two runs share no example
     ├── RunBusy                          another process holds the run's lease (works on it)
     ├── LeaseLost                        this process's lease on a run was taken over: it
     │                                    stops working on the run (the new holder goes on)
     ├── ScoringFailed                    the scorer could not run (a worker process died)
     └── StoreError                       the store cannot be used (written by a newer Liftoff)
          ├── StoreFull                   its disk is full: nothing was written
          └── StoreUnavailable            the database cannot be reached or answer (Postgres)

Generation failures of single examples are not raised: they are recorded on the example
(after the openai client's retries), and a run with failed examples ends ``failed``.
"""

from __future__ import annotations

from liftoff.evaluation.errors import EvaluationError, InvalidInput


class DatasetError(InvalidInput):
    """A dataset row is wrong; the message starts with where (``line 7:`` or ``dataset[6]:``)."""


class TargetError(InvalidInput):
    """The target endpoint cannot be used for a run; the message says why and what to check."""


class RunNotFound(EvaluationError, LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} in the store")
        self.run_id = run_id


class RunNotComparable(EvaluationError):
    """Two runs cannot be compared (yet): the message says why."""


class RunBusy(EvaluationError):
    """Another process holds the run's lease: it works on the run, and nobody else may."""

    def __init__(self, run_id: str, seconds: float) -> None:
        super().__init__(
            f"run {run_id} is being worked on by another evaluation process; it goes on "
            f"there, or here once that process has been gone for {seconds:g} s"
        )
        self.run_id = run_id


class LeaseLost(EvaluationError):
    """This process no longer holds the run's lease (another took it over after it lapsed):
    nothing more of the run may be written from here."""

    def __init__(self, run_id: str, why: str) -> None:
        super().__init__(f"run {run_id}: this process lost its lease ({why}); stopped here")
        self.run_id = run_id


class ScoringFailed(EvaluationError):
    """Scoring a run could not happen (not: the scores are bad); the run ends ``failed``."""


class StoreError(EvaluationError):
    """The run store cannot be used as it is; the message says why and what to do."""


class StoreFull(StoreError):
    """The store's disk has no room for a write; the write was rolled back whole."""


class StoreUnavailable(StoreError):
    """The database behind the store cannot be reached or does not answer in time."""
