"""Shared test settings: one thread for repeatable numbers, the lab's cache off."""

import os

import torch

os.environ.setdefault("LAB_CACHE_DIR", "")
torch.set_num_threads(1)
