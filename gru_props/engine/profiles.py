"""Settings of a check: Hypothesis profiles, generated sizes, and eager argument validation.

The profiles are registered with Hypothesis as ``gru_props.dev``,
``gru_props.ci`` and ``gru_props.thorough`` (also from the pytest plugin, so
``pytest --hypothesis-profile gru_props.thorough`` works), and passed
explicitly to every search, so neither Hypothesis' own ``ci`` profile (loaded
when CI is set) nor a user's global profile changes what a check does.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

from hypothesis import Phase, settings

_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)  # no "explain" noise

#: Hypothesis settings for each profile of ``check_implementation`` and ``check_gradients``.
PROFILES: Dict[str, settings] = {
    "dev": settings(max_examples=60, deadline=None, phases=_PHASES, print_blob=False),
    "ci": settings(max_examples=60, deadline=None, phases=_PHASES, derandomize=True,
                   database=None, print_blob=False),
    "thorough": settings(max_examples=1000, deadline=None, phases=_PHASES, print_blob=False),
}


def register_profiles() -> None:
    """Register the profiles with Hypothesis as ``gru_props.<name>`` (idempotent)."""
    for name, value in PROFILES.items():
        settings.register_profile(f"gru_props.{name}", value)


register_profiles()


class Sizes(NamedTuple):
    """Largest batch B, time steps T, input features D and hidden units H a check generates.

    Every property draws small cases first (B <= 3, T <= 4, D, H <= 3: readable
    when shrunk) and, on part of its examples, cases up to these sizes: bugs
    that only show with more steps or more units (a state dropped every 4
    steps, a loop bound hard-coded to 3) need them.
    """

    B: int
    T: int
    D: int
    H: int


#: Sizes by profile; a check's ``sizes=`` argument overrides them.
SIZES: Dict[str, Sizes] = {
    "dev": Sizes(B=6, T=20, D=10, H=10),
    "ci": Sizes(B=6, T=20, D=10, H=10),
    "thorough": Sizes(B=8, T=40, D=16, H=16),
}
SMALL = Sizes(B=3, T=4, D=3, H=3)

_FALSE = {"", "0", "false", "no", "off", "n", "f"}

#: Set by the pytest plugin from ``--gru-props-profile`` (or ``--hypothesis-profile gru_props.X``).
SESSION_PROFILE: Optional[str] = None


def env_true(name: str) -> bool:
    """True when the environment variable is set to something other than 0/false/no/off."""
    return os.environ.get(name, "").strip().lower() not in _FALSE


def choose_profile(profile: Any) -> Tuple[str, settings]:
    """The profile's name and settings.

    The argument, else the pytest session's ``--gru-props-profile``, else the
    GRU_PROPS_PROFILE variable, else ``ci`` when CI is set to a true value,
    else ``dev``.
    """
    source = ""
    if profile is None and SESSION_PROFILE:
        profile = SESSION_PROFILE
    if profile is None:
        profile = os.environ.get("GRU_PROPS_PROFILE") or ("ci" if env_true("CI") else "dev")
        source = " (from the GRU_PROPS_PROFILE environment variable)" if os.environ.get("GRU_PROPS_PROFILE") else ""
    if not isinstance(profile, str):
        raise TypeError(f"profile: expected one of {sorted(PROFILES)} as a string, got {profile!r}.")
    if profile.startswith("gru_props."):
        profile = profile[len("gru_props."):]
    if profile not in PROFILES:
        raise ValueError(
            f"profile: expected one of {sorted(PROFILES)}, got {profile!r}{source}. "
            f"It can also be set with the GRU_PROPS_PROFILE environment variable."
        )
    return profile, PROFILES[profile]


# ------------------------------------------------------------- validation
def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__}).")
    return value


def check_optional_bool(name: str, value: Any, none_means: str) -> Optional[bool]:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name}: expected None ({none_means}), True or False, got {value!r}.")
    return value


def check_int(name: str, value: Any, minimum: int, maximum: Optional[int] = None, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer{what}, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name}: expected an integer {bounds}{what}, got {value}.")
    return value


def check_seconds(name: str, value: Any) -> Optional[float]:
    """A positive number of seconds; None or inf mean no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected seconds as a number > 0, or None for no limit; got {value!r}.")
    value = float(value)
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name}: expected seconds > 0, or None for no limit; got {value!r}.")
    return None if math.isinf(value) else value


def check_tolerance(name: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite number >= 0 or None (by dtype), got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0 or None (by dtype), got {value!r}.")
    return value


def check_interpolation(value: Any) -> Optional[str]:
    if value is None:
        return None
    if value not in ("standard", "chung"):
        raise ValueError(
            f"interpolation: expected 'standard' (h = z*h + (1-z)*n), 'chung' (h = (1-z)*h + z*n) "
            f"or None (detect), got {value!r}."
        )
    return value


def check_property_names(value: Any, known: Sequence[str]) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(
            f"properties: expected a list of property names, got the string {value!r}; "
            f"write properties=[{value!r}]."
        )
    try:
        names = tuple(value)
    except TypeError:
        raise TypeError(f"properties: expected a list of property names, got {value!r}.") from None
    bad_type = [n for n in names if not isinstance(n, str)]
    if bad_type:
        raise TypeError(f"properties: expected names (strings), got {bad_type!r} among them.")
    if not names:
        raise ValueError(
            f"properties: expected at least one property name (an empty list would check nothing); "
            f"choose from {list(known)}, or pass None for all."
        )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"properties: unknown {unknown}; choose from {list(known)}.")
    return names


def check_sizes(value: Any, default: Sizes) -> Sizes:
    """``sizes=``: a Sizes, a (B, T, D, H) tuple, or a mapping of some of B, T, D, H."""
    if value is None:
        return default
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(Sizes._fields))
        if unknown:
            raise ValueError(f"sizes: unknown key(s) {unknown}; use B, T, D and H, e.g. sizes={{'T': 64}}.")
        merged = default._asdict()
        merged.update(value)
        value = Sizes(**merged)
    elif isinstance(value, (tuple, list)) and len(value) == 4:
        value = Sizes(*value)
    else:
        raise TypeError(
            f"sizes: expected a mapping such as {{'T': 64, 'H': 16}} or a (B, T, D, H) tuple, got {value!r}."
        )
    lows = {"B": 1, "T": 1, "D": 1, "H": 1}
    for field in Sizes._fields:
        check_int(f"sizes[{field!r}]", getattr(value, field), lows[field], what=f" (largest {field} generated)")
    return Sizes(*(int(v) for v in value))
