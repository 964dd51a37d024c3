"""pytest plugin (entry point ``pytest11``): gru_props' profiles on the pytest command line.

* registers the checker's Hypothesis profiles as ``gru_props.dev``,
  ``gru_props.ci`` and ``gru_props.thorough`` when pytest starts, so
  ``pytest --hypothesis-profile gru_props.thorough`` works (it applies to
  your own ``@given`` tests and to ``implementation_tests`` classes, and also
  selects the profile of ``check_implementation``/``check_gradients``);
* adds ``--gru-props-profile {dev,ci,thorough}``, which selects the profile of
  every ``check_implementation``/``check_gradients`` call in the session that
  does not pass ``profile=`` itself (it wins over the ``GRU_PROPS_PROFILE``
  environment variable and over the automatic ``ci`` under CI).
"""

from __future__ import annotations

from typing import Any, List

from gru_props.engine import profiles as _profiles

_profiles.register_profiles()


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("gru_props", "gru_props")
    group.addoption(
        "--gru-props-profile", action="store", default=None, choices=sorted(_profiles.PROFILES),
        help="profile of check_implementation/check_gradients calls that do not pass profile= "
             "(default: GRU_PROPS_PROFILE, else ci under CI, else dev)",
    )


def pytest_configure(config: Any) -> None:
    value = config.getoption("gru_props_profile", None)
    if value is None:
        hypothesis_profile = config.getoption("hypothesis_profile", None)
        if isinstance(hypothesis_profile, str) and hypothesis_profile.startswith("gru_props."):
            value = hypothesis_profile[len("gru_props."):]
    _profiles.SESSION_PROFILE = value


def pytest_unconfigure(config: Any) -> None:
    _profiles.SESSION_PROFILE = None


def pytest_report_header(config: Any) -> List[str]:
    if _profiles.SESSION_PROFILE:
        return [f"gru_props profile: {_profiles.SESSION_PROFILE} (for checks that do not pass profile=)"]
    return []
