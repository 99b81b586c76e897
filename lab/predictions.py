"""Predictions: what a trained network says, over a 2-D grid or on a few validation images."""

from __future__ import annotations

import torch

from lab.config import Config
from lab.data import Dataset
from lab.run import Predictions

GRID_MACS = 1e8  # multiply-adds allowed for one decision-boundary grid (2-D datasets)
N_IMAGES = 16  # validation images shown with their predictions (image datasets)


@torch.no_grad()
def predictions(net: torch.nn.Module, data: Dataset, cfg: Config,
                device: torch.device) -> Predictions:
    """What `net` predicts: class and confidence over a 2-D grid, or a few validation images."""
    mode_matters = cfg.batchnorm != "none" or cfg.dropout > 0
    was_training = net.training
    if mode_matters:
        net.eval()
    try:
        if data.image_shape is None and data.n_features == 2:
            return _grid(net, data, cfg, device)
        if data.image_shape is not None:
            logits = net(data.x_val[:N_IMAGES].to(device))
            if not torch.isfinite(logits).all():
                return Predictions()
            return Predictions(image_pred=logits.argmax(dim=1).cpu().numpy())
        return Predictions()
    finally:
        if mode_matters:
            net.train(was_training)


def _grid(net: torch.nn.Module, data: Dataset, cfg: Config,
          device: torch.device) -> Predictions:
    """Class and confidence over a grid covering the training inputs with a 10% margin."""
    x = data.x_train
    low, high = x.min(0).values, x.max(0).values
    pad = 0.1 * (high - low)
    low, high = (low - pad).tolist(), (high + pad).tolist()
    # the grid costs points x width^2 x depth: keep it to a few ms on a CPU
    side = int((GRID_MACS / (cfg.width ** 2 * cfg.depth)) ** 0.5)
    side = max(12, min(40, side))
    gx = torch.linspace(low[0], high[0], side)
    gy = torch.linspace(low[1], high[1], side)
    mesh = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1).reshape(-1, 2)
    prob = torch.softmax(net(mesh.to(device)), dim=1).cpu()
    if not torch.isfinite(prob).all():
        return Predictions()
    conf, cls = prob.max(dim=1)
    return Predictions(grid_extent=(low[0], high[0], low[1], high[1]),
                       grid_class=cls.reshape(side, side).numpy(),
                       grid_confidence=conf.reshape(side, side).numpy())
