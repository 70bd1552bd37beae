"""The evaluation service (``liftoff.evaluation.main:app``): scores, runs, reports, comparisons."""
