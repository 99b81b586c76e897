"""Shared test settings: one thread for repeatable numbers, the lab's cache off and its limits
at their defaults (whatever the shell says; tests/test_cache.py opens caches of its own), and
deterministic hypothesis examples in CI (random exploration stays on for local runs)."""

import os

import torch
from hypothesis import settings

# Set before any kernel or Voila server starts: they inherit this environment.
os.environ["LAB_CACHE_DIR"] = ""
for _name in ("LAB_CACHE_MB", "LAB_MAX_WORK", "LAB_MAX_SECONDS"):
    os.environ.pop(_name, None)
torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
