"""Shared test setup: headless Qt, quiet TensorFlow, no network, and how hard the fuzz tests try."""
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Picks the hypothesis profile: "suite" for `make test`, "fuzz" for the longer `make fuzz`.
#: Property tests that are not fuzzing set their own max_examples and are unaffected.
FUZZ_PROFILE_ENV = "LIMELIGHT_FUZZ_PROFILE"
# The suite's cases are the same on every run, so CI never fails on luck; `make fuzz` explores.
settings.register_profile("suite", max_examples=1000, deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=10_000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get(FUZZ_PROFILE_ENV, "suite"))

_fuzz_cases = Counter()


@pytest.fixture(scope="session")
def fuzz_cases():
    """Counts the cases each fuzzed loader ran; the total is printed at the end of the run."""
    return _fuzz_cases


def pytest_terminal_summary(terminalreporter):
    if _fuzz_cases:
        counts = ", ".join(f"{count:,} {target}" for target, count in sorted(_fuzz_cases.items()))
        profile = os.environ.get(FUZZ_PROFILE_ENV, "suite")
        terminalreporter.write_line(f"fuzz cases run (hypothesis profile {profile!r}, "
                                    f"{settings().max_examples:,} per test): {counts}")
