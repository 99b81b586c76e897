"""Gradient Lab: watch activations and gradients of a small network as it trains."""

from lab.batched import train_many
from lab.config import Config
from lab.models import build_model
from lab.run import Run
from lab.trainer import inspect, train

__all__ = ["Config", "Run", "build_model", "inspect", "train", "train_many"]
__version__ = "0.1.0"
