"""Test-suite configuration: Hypothesis profiles, loaded explicitly.

Hypothesis loads its own ``ci`` profile when the CI variable is set; we
register ours under the same names and load one here, so the suite behaves
the same on a laptop and in CI. Pick another with ``--hypothesis-profile``
or ``GRU_PROPS_PROFILE=thorough pytest``.
"""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]  # tests of the pytest plugin and of pytest-timeout run pytest in a subprocess

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("GRU_PROPS_PROFILE", "ci"))
