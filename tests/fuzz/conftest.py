"""Hypothesis profiles of the fuzzing campaign over the judge.

``short`` (the default) runs in the suite in well under a minute. ``long`` is the campaign
run by hand before a release or after a change to the reader, the zip limits or the
headers: ``HYPOTHESIS_PROFILE=long pytest tests/fuzz -p no:cacheprovider``. Derandomised
in the suite, so that a failure seen once is seen again; random in the campaign, so that
each run explores new inputs.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "short",
    max_examples=150,
    deadline=None,  # a bound relative to the input's size is asserted instead
    derandomize=True,
    suppress_health_check=_SLOW_INPUTS,
)
settings.register_profile(
    "long",
    max_examples=10_000,  # per test and run: the campaign repeats runs (each one random)
    deadline=None,
    suppress_health_check=_SLOW_INPUTS,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "short"))
