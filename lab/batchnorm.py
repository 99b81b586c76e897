"""What batch norm learned and what it steadied: its gamma and beta per layer, and the drift of
each layer's input over training (the quantity "internal covariate shift" talks about)."""

from __future__ import annotations

import numpy as np

from lab.run import Run


def _bn_keys(state: dict, layer: int) -> tuple[str, str] | None:
    """(gamma key, beta key) of hidden block `layer` (0-based) in a model state, or None."""
    for place in ("bn_before", "bn_after"):
        key = f"blocks.{layer}.{place}"
        if f"{key}.weight" in state:
            return f"{key}.weight", f"{key}.bias"
    return None


def gamma_beta(run: Run) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(gammas, betas) of every hidden layer's BatchNorm, layer 1 first, from `run.model_state`.

    Each entry holds one value per unit (MLP) or per channel (CNN); an inspected Run gives the
    values at init. ValueError if the run kept no weights (a partial Run) or has no batch norm.
    """
    state = run.model_state
    if not state:
        raise ValueError("the Run kept no weights (a partial Run has none)")
    gammas, betas = [], []
    for layer in range(run.config.depth):
        keys = _bn_keys(state, layer)
        if keys is None:
            raise ValueError(f"hidden layer {layer + 1} has no batch norm "
                             f"(batchnorm={run.config.batchnorm!r})")
        gammas.append(state[keys[0]].detach().cpu().double().numpy().copy())
        betas.append(state[keys[1]].detach().cpu().double().numpy().copy())
    return gammas, betas


def input_drift(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """How far the input of hidden layers 2..depth moved during training: (mean, std) drift.

    A layer's input is the previous layer's recorded activation output (so batchnorm must be
    "none" or "before"). Mean drift: the largest |mean now - mean at init| over the recorded
    steps, in units of the std at init; std drift: the largest factor by which the std moved
    away from its value at init, up or down (1 = never moved). Both (depth - 1,), layer 2 first.
    """
    if run.config.batchnorm == "after":
        raise ValueError("with batchnorm='after' the next layer's input is the BN output, "
                         "which is not recorded")
    mean, std = run.act_mean[:, :-1], run.act_std[:, :-1]  # (R, depth - 1)
    mean_drift = np.max(np.abs(mean - mean[0]), axis=0) / std[0]
    std_drift = np.exp(np.max(np.abs(np.log(std / std[0])), axis=0))
    return mean_drift, std_drift
