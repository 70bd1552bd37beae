"""TER statistics as sacrebleu 2.6.0 computes them, same integers, several times faster.

:func:`ter_statistics` is ``TER()._extract_corpus_statistics`` (default settings): per
example, the fewest edits over the references and the average reference length.
:func:`translation_edit_rate` is sacrebleu's ``lib_ter.translation_edit_rate``.

TER = (shifts + edit distance after shifting) / reference length. sacrebleu follows Tercom:
greedy shifts chosen by heuristics, and an edit distance restricted to a *beam* around the
diagonal whose backtrace (which op wins a tie: substitution, then deletion, then insertion)
drives the next shift. Everything here copies that control flow; only the distance changes:

* Distances come from Myers' bit-parallel algorithm (Hyyrö's global variant), one big-int step
  per hypothesis word, resumable from the rows of the unshifted hypothesis.
* That computes the *unrestricted* distance U. Any full path through a cell outside the
  beam costs at least T (see ``_threshold``), so when U < T every optimal path stays inside:
  the beam changes neither the distance nor a backtrace tie (each cell the backtrace reads
  lies on an optimal path or loses its comparison either way). Where U >= T we run
  sacrebleu's beam recurrence itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from liftoff.evaluation.metrics.accelerators.upstream import Upstream

UPSTREAM = Upstream(
    "sacrebleu", "2.6.0", "sacrebleu.metrics.ter.TER._compute_segment_statistics (lib_ter)"
)

_MAX_SHIFT_SIZE = 10
_MAX_SHIFT_DIST = 50
_BEAM_WIDTH = 25
_MAX_SHIFT_CANDIDATES = 1000
_INF = int(1e16)
_FLIP = str.maketrans("id", "di")


def ter_statistics(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> list[list[float]]:
    """``[fewest edits over the references, average reference length]`` per example, as
    sacrebleu's ``TER._compute_segment_statistics`` (tercom tokenization, case-insensitive)."""
    preprocess = _sacrebleu_ter()._preprocess_segment
    rows: list[list[float]] = []
    for prediction, refs in zip(predictions, references, strict=True):
        words_hyp = preprocess(prediction).split()
        best_edits: int = _INF
        ref_lengths = 0
        for ref in refs:
            edits, ref_length = translation_edit_rate(words_hyp, preprocess(ref).split())
            ref_lengths += ref_length
            best_edits = min(best_edits, edits)
        rows.append([best_edits, ref_lengths / len(refs)])
    return rows


@functools.cache
def _sacrebleu_ter() -> Any:
    from sacrebleu.metrics.ter import TER

    return TER()


def translation_edit_rate(words_hyp: Sequence[str], words_ref: Sequence[str]) -> tuple[int, int]:
    """(number of edits, reference length), as ``sacrebleu.metrics.lib_ter`` returns them."""
    if not words_ref:
        return len(words_hyp), 0
    distance = _EditDistance(words_ref, len(words_hyp))
    words = list(words_hyp)
    shifts = checked = 0
    while True:
        delta, shifted, checked = _best_shift(words, words_ref, distance, checked)
        if checked >= _MAX_SHIFT_CANDIDATES or delta <= 0:
            break
        shifts += 1
        words = shifted
    return shifts + distance.distance(words), len(words_ref)


class _Rows:
    """The DP rows of one hypothesis, for candidates that share a prefix of it."""

    def __init__(self, distance: _EditDistance, words: Sequence[str]) -> None:
        self.words = words
        self.myers = distance.myers(words)
        self._distance = distance
        self._beam: list[list[int]] | None = None

    def beam(self) -> list[list[int]]:
        if self._beam is None:
            self._beam = self._distance.beam(self.words)
        return self._beam


class _EditDistance:
    """Beam-restricted edit distance to one reference, for hypotheses of one length."""

    def __init__(self, ref: Sequence[str], hyp_length: int) -> None:
        self.ref = ref
        self.m = len(ref)
        self.mask = (1 << self.m) - 1
        self.peq: dict[str, int] = {}
        for j, word in enumerate(ref):
            self.peq[word] = self.peq.get(word, 0) | (1 << j)
        self.band, self.threshold = _geometry(hyp_length, self.m)

    def myers(
        self, words: Sequence[str], prefix: _Rows | None = None, first: int = 0
    ) -> list[tuple[int, int]]:
        """Myers' (VP, VN) vertical deltas of rows 0..n (row 0: all +1, D[i][0] = i);
        rows up to ``first`` come from ``prefix``, a hypothesis sharing those words."""
        mask, peq = self.mask, self.peq
        states = prefix.myers[: first + 1] if prefix else [(mask, 0)]
        vp, vn = states[-1]
        for word in words[len(states) - 1 :]:
            eq = peq.get(word, 0)
            xv = eq | vn
            xh = (((eq & vp) + vp) ^ vp) | eq
            hp = vn | ~(xh | vp)
            hn = vp & xh
            hp = (hp << 1) | 1
            hn <<= 1
            vp = (hn | ~(xv | hp)) & mask
            vn = hp & xv & mask
            states.append((vp, vn))
        return states

    def beam(
        self, words: Sequence[str], prefix: _Rows | None = None, first: int = 0
    ) -> list[list[int]]:
        """sacrebleu's beam recurrence (cost of each cell; ``_INF`` outside the beam)."""
        ref, m = self.ref, self.m
        rows = prefix.beam()[: first + 1] if prefix else [list(range(m + 1))]
        above = rows[-1]
        for i in range(len(rows), len(words) + 1):
            here = [_INF] * (m + 1)
            word = words[i - 1]
            low, high = self.band[i]
            if low == 0:
                here[0] = above[0] + 1
                low = 1
            for j in range(low, high):
                best = above[j - 1] if word == ref[j - 1] else above[j - 1] + 1
                if above[j] + 1 < best:
                    best = above[j] + 1
                if here[j - 1] + 1 < best:
                    best = here[j - 1] + 1
                if best < _INF:
                    here[j] = best
            rows.append(here)
            above = here
        return rows

    def distance(self, words: Sequence[str], prefix: _Rows | None = None, first: int = 0) -> int:
        """The beam-restricted distance; rows up to ``first`` may come from ``prefix``."""
        vp, vn = self.myers(words, prefix, first)[-1]
        unrestricted = len(words) + vp.bit_count() - vn.bit_count()
        if unrestricted < self.threshold:
            return unrestricted
        return self.beam(words, prefix, first)[-1][self.m]

    def trace(self, words: Sequence[str]) -> tuple[int, str, _Rows]:
        """Distance, sacrebleu's backtrace (ops turning hypothesis into reference) and the rows.

        A cell's op is the first of substitution, deletion, insertion that gives its cost.
        """
        rows = _Rows(self, words)
        n, m = len(words), self.m
        vp, vn = rows.myers[n]
        if n + vp.bit_count() - vn.bit_count() < self.threshold:
            states = rows.myers

            def cell(i: int, j: int) -> int:
                below = (1 << j) - 1
                vp, vn = states[i]
                return i + (vp & below).bit_count() - (vn & below).bit_count()

        else:
            costs = rows.beam()

            def cell(i: int, j: int) -> int:
                return costs[i][j]

        ops: list[str] = []
        i, j = n, m
        while i > 0 and j > 0:
            here = cell(i, j)
            same = words[i - 1] == self.ref[j - 1]
            if cell(i - 1, j - 1) + (0 if same else 1) == here:
                ops.append(" " if same else "s")
                i, j = i - 1, j - 1
            elif cell(i - 1, j) + 1 == here:
                ops.append("d")
                i -= 1
            else:
                ops.append("i")
                j -= 1
        ops.extend("d" * i + "i" * j)
        return cell(n, m), "".join(reversed(ops)), rows


@functools.lru_cache(maxsize=4096)
def _geometry(n: int, m: int) -> tuple[list[tuple[int, int]], int]:
    """The beam for an n-word hypothesis and m-word reference, and its threshold."""
    band = _beam(n, m)
    return band, _threshold(band, m)


def _beam(n: int, m: int) -> list[tuple[int, int]]:
    """sacrebleu's beam: the ``range(min_j, max_j)`` computed in each row 1..n (index 0 unused)."""
    length_ratio = m / n if n else 1
    if length_ratio / 2 > _BEAM_WIDTH:
        beam_width = math.ceil(length_ratio / 2 + _BEAM_WIDTH)
    else:
        beam_width = _BEAM_WIDTH
    band = [(0, m + 1)]
    for i in range(1, n + 1):
        pseudo_diag = math.floor(i * length_ratio)
        min_j = max(0, pseudo_diag - beam_width)
        max_j = m + 1 if i == n else min(m + 1, pseudo_diag + beam_width)
        band.append((min_j, max_j))
    return band


def _threshold(band: list[tuple[int, int]], m: int) -> int:
    """The cheapest full path (0, 0) -> (n, m) through a cell outside the beam costs at least
    this: ``|a - b|`` to reach cell (a, b), ``|(n - a) - (m - b)|`` to go on to the end."""
    n = len(band) - 1
    best = _INF
    for a, (low, high) in enumerate(band):
        targets = (a, a + m - n)  # cost(b) = |b - a| + |b - (a + m - n)|
        for first, last in ((0, low - 1), (high, m)):
            if first > last:
                continue
            for b in (first, last, *(min(max(t, first), last) for t in targets)):
                best = min(best, abs(b - targets[0]) + abs(b - targets[1]))
    return best


def _perform_shift(words: list[str], start: int, length: int, target: int) -> list[str]:
    """sacrebleu's ``_perform_shift``: move ``length`` words at ``start`` to ``target``."""
    moved = words[start : start + length]
    if target < start:
        return words[:target] + moved + words[target:start] + words[start + length :]
    if target > start + length:
        return words[:start] + words[start + length : target] + moved + words[target:]
    return (
        words[:start] + words[start + length : length + target] + moved + words[length + target :]
    )


def _best_shift(
    words_h: list[str], words_r: Sequence[str], distance: _EditDistance, checked: int
) -> tuple[int, list[str], int]:
    """sacrebleu's ``_shift``: (gain, shifted words, candidates checked so far)."""
    from sacrebleu.metrics.lib_ter import trace_to_alignment

    pre_score, inverse_trace, rows = distance.trace(words_h)
    align, ref_err, hyp_err = trace_to_alignment(inverse_trace.translate(_FLIP))
    hyp_err_sum = [0]
    for flag in hyp_err:
        hyp_err_sum.append(hyp_err_sum[-1] + flag)
    ref_err_sum = [0]
    for flag in ref_err:
        ref_err_sum.append(ref_err_sum[-1] + flag)
    positions: dict[str, list[int]] = {}
    for j, word in enumerate(words_r):
        positions.setdefault(word, []).append(j)

    n_h, n_r = len(words_h), len(words_r)
    best: tuple[int, int, int, int] | None = None
    best_words = words_h
    for start_h in range(n_h):
        for start_r in positions.get(words_h[start_h], ()):
            if abs(start_r - start_h) > _MAX_SHIFT_DIST:
                continue
            length = 0
            while (
                length < _MAX_SHIFT_SIZE and words_h[start_h + length] == words_r[start_r + length]
            ):
                length += 1
                if (
                    hyp_err_sum[start_h + length] != hyp_err_sum[start_h]
                    and ref_err_sum[start_r + length] != ref_err_sum[start_r]
                    and not (start_h <= align[start_r] < start_h + length)
                ):
                    prev_idx = -1
                    for offset in range(-1, length):
                        if start_r + offset == -1:
                            idx = 0
                        elif start_r + offset in align:
                            idx = align[start_r + offset] + 1
                        else:
                            break
                        if idx == prev_idx:
                            continue
                        prev_idx = idx
                        shifted = _perform_shift(words_h, start_h, length, idx)
                        gain = pre_score - distance.distance(shifted, rows, min(start_h, idx))
                        candidate = (gain, length, -start_h, -idx)
                        checked += 1
                        if best is None or candidate > best:
                            best, best_words = candidate, shifted
                    if checked >= _MAX_SHIFT_CANDIDATES:
                        return _result(best, best_words, words_h, checked)
                if n_h == start_h + length or n_r == start_r + length:
                    break
    return _result(best, best_words, words_h, checked)


def _result(
    best: tuple[int, int, int, int] | None, best_words: list[str], words_h: list[str], checked: int
) -> tuple[int, list[str], int]:
    if best is None:
        return 0, words_h, checked
    return best[0], best_words, checked
