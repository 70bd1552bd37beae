"""Dataset runs: send every example to an OpenAI-compatible endpoint, keep, score, compare.

Shared by the service (``liftoff.evaluation.service``) and ``liftoff eval run``: ``model`` says
what a run and its examples are, ``dataset`` parses rows, ``target`` talks to the endpoint,
``store`` keeps runs (SQLite), ``executor`` drives a run, ``compare`` pairs two runs,
``gates`` turns scores into pass/fail checks.
"""
