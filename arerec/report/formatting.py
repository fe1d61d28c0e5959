"""One number formatter for everything a reader sees: the report pages, the index, ``tables/*.tex`` and ``check``.

- :func:`number`: a value at a given number of decimals (None: a whole number); integers of five digits or more
  with a no-break space between thousands ("18 944" never breaks over two lines); a negative number with a true
  minus sign (U+2212); booleans as yes/no; a missing value as "–";
- :func:`decimals`: the decimals that show a column's values to about three significant digits;
- :func:`significant`: one value to a number of significant digits, for a column whose values span magnitudes;
- :func:`interval`: a mean and its 95% half-width at one precision ("0.562 ± 0.004"), and :func:`signed` a
  difference with its interval ("+0.0031 ± 0.0048", "−0.0010 (−0.0041 to +0.0021)"): the same decimals for a value
  and its interval, enough for each to show a significant digit, so that a non-zero value is never "−0.000";
- :func:`p_value`, :func:`duration`, :func:`short_hash` and :func:`text` (any recorded value, for ``check``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING = "–"
NBSP = "\u00a0"
MINUS = "\u2212"
MAX_DECIMALS = 6
HASH_CHARS = 12
NOISE = 1e-9  # an interval's half-width below it is floating-point noise (3.4e−16 over equal seeds): shown as 0


def missing(value: Any) -> bool:
    """None, NaN, NA or NaT."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _minus(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def integer(value: Any) -> str:
    """A whole number; five digits or more with no-break spaces between thousands."""
    n = int(value)
    return _minus(f"{n:,}".replace(",", NBSP) if abs(n) >= 10_000 else str(n))


def fixed(value: float, digits: int) -> str:
    """``value`` at ``digits`` decimals, with a minus sign; an exact zero unsigned, and a non-zero value that would
    round to zero with the decimals of its first significant digit (−0.0004, never −0.000), or 3 of them beyond 6."""
    value = float(value)
    if value == 0:
        return f"{0:.{digits}f}"
    if round(value, digits) == 0:
        first = _first_digit(value)
        return _minus(f"{value:.{first}f}") if first <= MAX_DECIMALS else significant(value)
    return _minus(f"{value:.{digits}f}")


def significant(value: Any, digits: int = 3, *, sign: bool = False) -> str:
    """``value`` to ``digits`` significant digits: a whole number as an integer, 0.00376, 2.27e−08, −0.049; with
    ``sign``, a positive value with its plus (+0.021)."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    text = integer(value) if value.is_integer() else _minus(f"{value:.{digits}g}").replace("e-", f"e{MINUS}")
    return f"+{text}" if sign and value > 0 else text


def number(value: Any, digits: int | None = None) -> str:
    """One cell: booleans yes/no, whole numbers as integers, floats at ``digits`` decimals (None: whole)."""
    if missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return integer(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return str(value)
        return integer(round(float(value))) if digits is None else fixed(float(value), digits)
    return plain(value)


def plain(value: Any) -> str:
    """A value that is not a number: lists and mappings joined, dates as dates, text as it is."""
    if missing(value):
        return MISSING
    if isinstance(value, (float, np.floating)):
        return significant(value)
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return number(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(plain(v) for v in value) or MISSING
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def decimals(values: Sequence[float] | np.ndarray | pd.Series) -> int:
    """Decimals that show a column's values to about three significant digits of its largest one.

    Below 10, at least 3 decimals (metrics and shares), more for small values (a CI of 0.0043 keeps two significant
    digits); 106.04 gets 1, 1234.5 gets 0. At most 6, and no more than the values need (0.5 and 4.5 get 1).
    """
    finite = np.asarray(values, dtype=float)
    finite = np.abs(finite[np.isfinite(finite)])
    finite = finite[finite > 0]
    if finite.size == 0:
        return 3
    magnitude = math.floor(math.log10(finite.max()))
    if magnitude < 1:
        smallest = math.floor(math.log10(np.median(finite)))
        wanted = int(min(max(3, 1 - smallest), MAX_DECIMALS))
    else:
        wanted = max(0, 3 - magnitude)
    # no trailing zeros that every value shares: half epochs as 0.5 and 5.0, not 0.500 and 5.000
    return next((d for d in range(wanted) if np.allclose(finite, np.round(finite, d), rtol=0, atol=1e-12)), wanted)


def _first_digit(value: float) -> int:
    """Decimals at which ``value`` shows its first significant digit (0 for |value| >= 1 or 0)."""
    value = abs(float(value))
    if value == 0 or not np.isfinite(value) or value >= 1:
        return 0
    return -math.floor(math.log10(value))


def pair_decimals(value: float, spread: Sequence[float], at_least: int = 3) -> int:
    """The decimals of a value and its interval: ``at_least``, and enough for a non-zero value and a non-zero
    half-width each to show a significant digit (never "± 0.000" for an interval that is not 0); at most 6.
    A half-width below :data:`NOISE` counts as 0."""
    widths = [abs(float(s)) for s in spread if not missing(s) and abs(float(s)) >= NOISE]
    return min(max([at_least, _first_digit(value), *map(_first_digit, widths)]), MAX_DECIMALS)


def interval(mean: Any, half: Any, digits: int = 3) -> str:
    """"mean ± half" at ``digits`` decimals (:func:`pair_decimals` gives them); no interval for a missing half-width
    (one seed); "n/a" without a mean; a half-width below :data:`NOISE` written as 0."""
    if missing(mean):
        return "n/a"
    if missing(half):
        return fixed(float(mean), digits)
    half = 0.0 if abs(float(half)) < NOISE else float(half)
    return f"{fixed(float(mean), digits)}{NBSP}±{NBSP}{fixed(half, digits)}"


def _sign(value: float, digits: int) -> str:
    text = fixed(value, digits)
    return text if text.startswith(MINUS) or value == 0 else f"+{text}"


def signed(value: Any, half: Any = None, low: Any = None, high: Any = None, digits: int = 4) -> str:
    """A difference with its sign and its 95% interval at the same precision: '± half', or '(low to high)'."""
    if missing(value):
        return MISSING
    spread = [half] if not missing(half) else [float(high) - float(value), float(value) - float(low)] \
        if not (missing(low) or missing(high)) else []
    at = pair_decimals(float(value), spread, digits)
    text = _sign(float(value), at)
    if not missing(half):
        return f"{text}{NBSP}±{NBSP}{fixed(0.0 if abs(float(half)) < NOISE else float(half), at)}"
    if not (missing(low) or missing(high)):
        return f"{text} ({_sign(float(low), at)} to {_sign(float(high), at)})"
    return text


def percent(share: Any, digits: int = 1) -> str:
    """A share as a percentage: 0.679 -> "67.9%" (``digits`` decimals)."""
    return MISSING if missing(share) else f"{fixed(float(share) * 100, digits)}%"


def p_value(value: Any) -> str:
    """A p-value at two significant digits; "< 0.001" below it; "n/a" when missing."""
    if missing(value):
        return "n/a"
    value = float(value)
    return f"<{NBSP}0.001" if value < 1e-3 else f"{value:.2g}"


def duration(seconds: Any) -> str:
    """Seconds as "1 min 15 s" or "42 s"; "–" when not recorded."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or missing(seconds):
        return MISSING
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def short_hash(value: Any, chars: int = HASH_CHARS) -> str:
    """The first ``chars`` characters of a hash (a commit, a SHA-256); the whole one stays in the CSV or JSON."""
    return MISSING if missing(value) else str(value)[:chars]


def text(value: Any, width: int = 44) -> str:
    """Any recorded value for a line of text (``check``): floats to 6 significant digits, long values elided."""
    if isinstance(value, float):
        return significant(value, 6)
    shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 4] + "…" + shown[-3:]
