"""Baselines the benchmarks compare the lab with: the bare loop and the naive notebook way.

Both train the same model on the same data, batches, optimizer and steps as lab.train; they
exist to be timed, so they return seconds (and the naive way the PNGs it drew).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from lab.config import Config
from lab.data import load
from lab.models import build_model
from lab.optim import MOMENTUM, RMSPROP_ALPHA, RMSPROP_EPS
from lab.schedule import lr_at
from lab.trainer import Batches, resolve_device


def make_optimizer(cfg: Config, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """torch.optim's own optimizer for Config (lab.optim computes the same steps)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS,
                                   weight_decay=cfg.weight_decay, foreach=True)
    momentum = MOMENTUM if cfg.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum,
                           weight_decay=cfg.weight_decay, foreach=True)


def _setup(cfg: Config):
    dev = resolve_device(cfg.device)
    data = load(cfg)
    net = build_model(cfg, data).to(dev)
    net.train()
    params = list(net.parameters())
    opt = make_optimizer(cfg, params)
    batches = Batches(cfg, len(data.x_train), dev)
    return dev, data, net, params, opt, batches


def _clip(cfg: Config, params: list[torch.nn.Parameter]) -> None:
    if cfg.clip == "norm":
        torch.nn.utils.clip_grad_norm_(params, cfg.clip_threshold, foreach=True)
    elif cfg.clip == "value":
        torch.nn.utils.clip_grad_value_(params, cfg.clip_threshold, foreach=True)


def bare_train(cfg: Config) -> tuple[float, float]:
    """Seconds (and the last loss) of the same training as lab.train's with no recording."""
    t0 = time.perf_counter()
    dev, data, net, params, opt, batches = _setup(cfg)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    for t in range(cfg.steps):
        idx = batches.next()
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip(cfg, params)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, t)
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, float(loss.detach())


def naive_train(cfg: Config, n_frames: int) -> tuple[float, list[bytes], list[float]]:
    """Seconds, PNGs and losses of the way a notebook would do it, drawing `n_frames` figures.

    Forward hooks copy every layer's output to numpy each step, each layer's gradient norm is
    read with .item() each step, and every redraw builds a new matplotlib figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lab.plots import figure_png

    t0 = time.perf_counter()
    dev, data, net, params, opt, batches = _setup(cfg)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    outputs: list[np.ndarray] = []
    hooks = [block.act.register_forward_hook(
        lambda _m, _i, out: outputs.append(out.detach().cpu().numpy().copy()))
        for block in net.blocks]
    weights = net.hidden_weights()
    losses: list[float] = []
    act_std: list[list[float]] = []
    grad_norms: list[list[float]] = []
    pngs: list[bytes] = []
    every = max(1, cfg.steps // n_frames)

    def draw() -> None:
        fig = Figure(figsize=(12.8, 8.0), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 3)
        for layer, out in enumerate(outputs):
            axes[0, 0].hist(out.ravel(), bins=40, histtype="step", label=f"layer {layer + 1}")
        axes[0, 1].semilogy(np.array(grad_norms))
        axes[0, 2].imshow(np.log10(np.array(grad_norms) + 1e-30).T, aspect="auto")
        axes[1, 0].plot(losses)
        axes[1, 1].plot(np.array(act_std))
        axes[0, 0].legend(fontsize=6)
        for ax, title in zip(axes.flat, ("activations", "gradient norm", "heatmap", "loss",
                                         "activation std", ""), strict=True):
            ax.set_title(title)
        pngs.append(figure_png(fig))

    try:
        for t in range(cfg.steps):
            outputs.clear()
            idx = batches.next()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            losses.append(loss.item())
            act_std.append([float(a.std()) for a in outputs])
            grad_norms.append([w.grad.norm().item() for w in weights])
            _clip(cfg, params)
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, t)
            opt.step()
            if (t + 1) % every == 0 and len(pngs) < n_frames:
                draw()
        if len(pngs) < n_frames:  # the final figure, as lab.train's last frame
            draw()
    finally:
        for hook in hooks:
            hook.remove()
    return time.perf_counter() - t0, pngs, losses


def graphed_bare_train(cfg: Config) -> tuple[float, float]:
    """Seconds for the bare loop with its whole step captured once as a CUDA graph (CUDA only).

    Constant learning rate and no clipping: what a graph can replay without host decisions.
    """
    t0 = time.perf_counter()
    dev = resolve_device(cfg.device)
    if dev.type != "cuda":
        raise ValueError("graphed_bare_train needs a CUDA device")
    data = load(cfg)
    net = build_model(cfg, data).to(dev)
    net.train()
    params = list(net.parameters())
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                               capturable=True)
    elif cfg.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=cfg.lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS,
                                  weight_decay=cfg.weight_decay, capturable=True)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                              momentum=0.9 if cfg.optimizer == "momentum" else 0.0)
    batches = Batches(cfg, len(data.x_train), dev)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    idx = batches.next().clone()  # the graph reads the batch indices from this buffer

    def step() -> torch.Tensor:
        loss = F.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graphs requires
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=False)
    with torch.cuda.graph(graph):
        opt.zero_grad(set_to_none=False)
        loss = step()
    for _ in range(cfg.steps):
        idx.copy_(batches.next())
        graph.replay()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, float(loss.detach())
