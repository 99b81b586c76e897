"""Claims: a lesson's statement about a trained number, checked with a measured tolerance.

A trained run's last digits depend on the CPU's vector kernels, the BLAS build and the device,
and chaotic training turns them into different accuracies, so lessons never compare such a
number digit for digit. They state a range instead, `claim(...)` checks it where the number is
made, and `tools/spread.py` measures every claim over seeds and CPU kernel settings into
`docs/claims.json`, which tests/test_claims.py requires each range to contain.

With LAB_CLAIMS_LOG=path set (only tools/spread.py sets it), a claim appends what it measured
to that file and never raises, so that one measuring pass sees every value.
"""

from __future__ import annotations

import json
import math
import os

LOG_ENV = "LAB_CLAIMS_LOG"


def _show(value: float, percent: bool) -> str:
    """A number as a lesson prints it: a percentage for accuracies, else 3 significant digits."""
    if percent:
        return f"{value:.0%}"
    return f"{value:.3g}"


def _bounds(low: float | None, high: float | None, percent: bool) -> str:
    """'between 85% and 95%', 'at least 0.9' or 'at most 1e-05'."""
    if low is not None and high is not None:
        return f"between {_show(low, percent)} and {_show(high, percent)}"
    if low is not None:
        return f"at least {_show(low, percent)}"
    return f"at most {_show(high, percent)}"


def claim(what: str, value: float | None, low: float | None = None, high: float | None = None,
          percent: bool = False) -> None:
    """Check low <= value <= high (None: open bound) and say so; AssertionError if not.

    `what` names the claim (unique across lessons and presets: it keys docs/claims.json);
    `percent` prints value and bounds as percentages (for accuracies in [0, 1]).
    """
    if low is None and high is None:
        raise ValueError(f"claim {what!r}: give low, high or both")
    if low is not None and high is not None and low > high:
        raise ValueError(f"claim {what!r}: low {low} is above high {high}")
    value = math.nan if value is None else float(value)  # None: e.g. a run that never diverged
    holds = math.isfinite(value) and (low is None or value >= low) and (
        high is None or value <= high)
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"what": what, "value": value if math.isfinite(value) else None,
                                  "low": low, "high": high}) + "\n")
    line = f"{what}: {_show(value, percent)}, {_bounds(low, high, percent)}"
    if not holds and not path:
        raise AssertionError(f"claim does not hold: {line}")
    # Without the value, so that a claim's output is the same on every machine that it holds on.
    print(f"claim holds: {what} is {_bounds(low, high, percent)}" if holds
          else f"claim FAILS: {line}")
