"""Gradient Lab: watch activations and gradients of a small network as it trains.

`import lab` loads only the Config (no torch): a Voila kernel shows its controls first. The
training names load their modules (and torch) on first use, and so does a submodule reached as
an attribute (`lab.data.load` after a bare `import lab`, as when `import lab` loaded them all).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from lab.config import Config

__all__ = ["Config", "Run", "build_model", "inspect", "train", "train_many"]
__version__ = "0.1.0"

_LAZY = {  # name -> module that defines it
    "train": "lab.trainer", "inspect": "lab.trainer", "train_many": "lab.batched",
    "build_model": "lab.models", "Run": "lab.run",
}


def __getattr__(name: str) -> Any:
    """Load a training name's module, or a submodule, on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # sets the attribute itself
    raise AttributeError(f"module 'lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazy ones included."""
    return sorted(set(globals()) | set(_LAZY))
