"""Models: an MLP or a small CNN built from a Config, initialized through torch.nn.init."""

from __future__ import annotations

import torch
from torch import nn

from lab.config import Config
from lab.data import Dataset, load
from lab.registry import ACTIVATIONS, INITS, LEAKY_SLOPE

__all__ = ["LEAKY_SLOPE", "Block", "Net", "build_model", "init_weight", "make_activation"]


class Block(nn.Module):
    """One hidden layer: weight -> [BN] -> activation -> [BN] -> [dropout], optional skip."""

    def __init__(self, layer: nn.Module, n_out: int, cfg: Config, residual: bool, conv: bool):
        super().__init__()
        norm = nn.BatchNorm2d if conv else nn.BatchNorm1d
        self.layer = layer
        self.bn_before = norm(n_out) if cfg.batchnorm == "before" else None
        self.act = make_activation(cfg.activation)
        self.bn_after = norm(n_out) if cfg.batchnorm == "after" else None
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None
        self.residual = residual
        self.tap: list[torch.Tensor] | None = None  # set by lab.probes.probe while recording

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer(x)
        if self.bn_before is not None:
            h = self.bn_before(h)
        h = self.act(h)
        if self.tap is not None:  # cheaper than a forward hook (no slow nn.Module call path)
            self.tap.append(h)
        if self.bn_after is not None:
            h = self.bn_after(h)
        if self.drop is not None:
            h = self.drop(h)
        return x + h if self.residual else h


class Net(nn.Module):
    """Hidden blocks (layer 1 nearest the input) followed by a linear classifier head."""

    def __init__(self, stem: nn.Module, blocks: list[Block], head: nn.Module):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def hidden_weights(self) -> list[torch.Tensor]:
        """Weight tensor of each hidden layer, layer 1 first."""
        return [b.layer.weight for b in self.blocks]


def make_activation(name: str) -> nn.Module:
    """The nn.Module for an activation name of Config (lab.registry.ACTIVATIONS)."""
    act = ACTIVATIONS[name]
    return getattr(nn, act.module)(*act.args)


def build_model(cfg: Config, data: Dataset | None = None) -> Net:
    """Return the network `cfg` describes for its dataset, initialized from `cfg.seed` (on CPU)."""
    data = data if data is not None else load(cfg)
    n_features, n_classes = data.n_features, data.n_classes
    generator = torch.Generator().manual_seed(cfg.seed)
    w = cfg.width
    if cfg.arch == "cnn":
        if data.image_shape is None:
            raise ValueError("arch='cnn' needs an image dataset")
        stem: nn.Module = nn.Unflatten(1, (1, *data.image_shape))
        layers = [nn.Conv2d(1 if i == 0 else w, w, 3, padding=1) for i in range(cfg.depth)]
        # pool to a 4x4 grid, not 1x1: where a stroke is matters for digits
        head: nn.Module = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                                        nn.Linear(16 * w, n_classes))
    else:
        stem = nn.Identity()
        layers = [nn.Linear(n_features if i == 0 else w, w) for i in range(cfg.depth)]
        head = nn.Linear(w, n_classes)
    conv = cfg.arch == "cnn"
    blocks = [Block(layer, w, cfg, cfg.residual and i > 0, conv) for i, layer in enumerate(layers)]
    net = Net(stem, blocks, head)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                init_weight(module.weight, cfg.init, cfg.init_gain, cfg.activation, generator)
                nn.init.zeros_(module.bias)
    return net


def init_weight(weight: torch.Tensor, scheme: str, gain: float, activation: str,
                generator: torch.Generator | None = None) -> None:
    """Fill `weight` in place by `scheme`, scaled by `gain` (for "normal" the std itself)."""
    if scheme not in INITS:
        raise ValueError(f"init={scheme!r}: unknown scheme")
    init = INITS[scheme]
    fill = getattr(nn.init, init.fill)
    random = {"generator": generator} if init.random else {}
    fill(weight, **init.kwargs(gain, activation), **random)
    if init.scale_after:
        weight.mul_(gain)
