"""The evaluation service (``evaluation.main:app``): scores, runs, reports, comparisons."""
