"""Shared test settings: one thread for repeatable numbers, the lab's cache off, its limits
at their defaults and its training line (lab/slots.py) private, whatever the shell says
(tests/test_cache.py opens caches of its own), and deterministic hypothesis examples in CI
(random exploration stays on for local runs)."""

import os
import tempfile

import torch
from hypothesis import settings

# Set before any kernel or Voila server starts: they inherit this environment.
os.environ["LAB_CACHE_DIR"] = ""
for _name in ("LAB_CACHE_MB", "LAB_MAX_WORK", "LAB_MAX_SECONDS", "LAB_TRAININGS"):
    os.environ.pop(_name, None)
# the line for a core (lab/slots.py) of this test run only: another run's trainings (a second
# checkout's tests, a demo server) must not queue this one's
os.environ["LAB_QUEUE_DIR"] = tempfile.mkdtemp(prefix="lab-test-queue-")
torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
