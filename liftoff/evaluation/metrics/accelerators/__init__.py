"""Faster copies of reference-library code, each pinned to the exact version it mirrors.

Every other module of :mod:`liftoff.evaluation.metrics` scores through the libraries' public
API (and sacrebleu's statistics, see :mod:`~liftoff.evaluation.metrics.base`). The code here
instead re-implements, or reaches into, library internals, because it pays:

=========================  =====================  ==========================================
accelerator                mirrors                what it replaces (measured gain, 1 process)
=========================  =====================  ==========================================
:mod:`.tercom`             sacrebleu 2.6.0        ``lib_ter.translation_edit_rate`` (TER 6-13x)
:mod:`.rouge`              rouge-score 0.1.2      ``RougeScorer.score_multi`` (ROUGE 5-6x)
:mod:`.meteor`             nltk 3.10.4            ``meteor_score`` and ``NLTKWordTokenizer``
                                                  (METEOR 4-6x; with :mod:`.lexicon` and
                                                  :mod:`.word_tokens`)
=========================  =====================  ==========================================

A copy that is right for one version can silently be wrong for the next, so each accelerator
runs only when the installed distribution is *exactly* the version it mirrors
(:meth:`Upstream.active`); with any other version the scorer calls the library's public API
and gives the library's numbers, only slower. The parity tests run both paths
(:func:`disabled` forces the public one) against the libraries; a test also fails when the
locked versions move past these pins, which is the moment to re-verify a mirror.
"""

from __future__ import annotations

from liftoff.evaluation.metrics.accelerators import meteor, rouge, tercom
from liftoff.evaluation.metrics.accelerators.upstream import Upstream, disabled, installed_version

__all__ = ["UPSTREAMS", "Upstream", "disabled", "installed_version"]

UPSTREAMS: tuple[Upstream, ...] = (tercom.UPSTREAM, rouge.UPSTREAM, meteor.UPSTREAM)
