"""Shared test settings: one thread for repeatable numbers, the lab's cache off, and
deterministic hypothesis examples in CI (random exploration stays on for local runs)."""

import os

import torch
from hypothesis import settings

os.environ.setdefault("LAB_CACHE_DIR", "")
torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
