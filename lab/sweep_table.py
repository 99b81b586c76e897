"""Sweep tables: a sweep's points looked up by the values they varied, not by list position.

lab.sweep.sweep returns its points in `combinations` order (first field varying slowest), so
`points[3]` means "the fourth combination": correct only while nobody reorders or extends the
varied values. These functions find points by what they are instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.sweep import SweepPoint


def pick(points: Sequence[SweepPoint], **values: Any) -> SweepPoint:
    """The one point whose varied values include all of `values` (field=value)."""
    found = [p for p in points if all(k in p.values and p.values[k] == v
                                      for k, v in values.items())]
    if len(found) != 1:
        varied = sorted({k for p in points for k in p.values})
        raise KeyError(f"{len(found)} sweep points have {values} (varied: {varied}); "
                       "name values that single out one")
    return found[0]


def quantity(point: SweepPoint, of: str) -> Any:
    """`point`'s number called `of`: a SweepPoint field (val_acc, ratio_init...) or, failing
    that, an attribute of its Run (diverged_at, clipped_fraction, steps_done...)."""
    if of in ("values", "run"):
        raise ValueError(f"of={of!r} is not a number of the point")
    return getattr(point, of) if hasattr(point, of) else getattr(point.run, of)


def by_values(points: Sequence[SweepPoint], of: str = "val_acc") -> dict[Any, Any]:
    """{varied values: quantity `of`}: keyed by the bare value when one field was varied, else
    by the tuple of values in the order the fields were varied (acc[0.5, seed])."""
    table = {}
    for p in points:
        key = tuple(p.values.values())
        table[key[0] if len(key) == 1 else key] = quantity(p, of)
    return table


def table(points: Sequence[SweepPoint], row: str, col: str,
          of: str = "val_acc") -> dict[Any, dict[Any, Any]]:
    """{row value: {column value: quantity `of`}} of a sweep over (at least) `row` and `col`,
    rows and columns in the order the sweep varied them; other varied fields must be fixed
    by the points passed (one point per cell)."""
    out: dict[Any, dict[Any, Any]] = {}
    for p in points:
        r, c = p.values[row], p.values[col]
        cells = out.setdefault(r, {})
        if c in cells:
            raise KeyError(f"two points at {row}={r!r}, {col}={c!r}: pass one point per cell")
        cells[c] = quantity(p, of)
    return out
