"""Accelerators run only on the exact library versions they mirror."""

from __future__ import annotations

import importlib.metadata

from liftoff.evaluation.metrics import accelerators
from liftoff.evaluation.metrics.accelerators import Upstream


def test_every_accelerator_is_active_with_the_locked_library_versions() -> None:
    # Fails when the lock moves a library past a pin: re-verify that mirror, then move its pin.
    for upstream in accelerators.UPSTREAMS:
        installed = importlib.metadata.version(upstream.distribution)
        assert upstream.version == installed, upstream
        assert upstream.active(), upstream


def test_an_accelerator_is_inactive_on_any_other_version() -> None:
    for upstream in accelerators.UPSTREAMS:
        other = Upstream(upstream.distribution, upstream.version + ".post1", upstream.mirrors)
        assert not other.active()
    assert not Upstream("not-installed-distribution", "1.0", "nothing").active()


def test_disabled_turns_every_accelerator_off_and_restores_them() -> None:
    with accelerators.disabled():
        assert not any(upstream.active() for upstream in accelerators.UPSTREAMS)
        with accelerators.disabled():
            pass
        assert not any(upstream.active() for upstream in accelerators.UPSTREAMS)
    assert all(upstream.active() for upstream in accelerators.UPSTREAMS)


def test_each_pin_names_what_it_mirrors() -> None:
    assert {u.distribution for u in accelerators.UPSTREAMS} == {"sacrebleu", "rouge-score", "nltk"}
    assert all(u.mirrors for u in accelerators.UPSTREAMS)
