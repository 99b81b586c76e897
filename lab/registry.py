"""Registry: every init scheme and activation of the lab, once, as plain data (no torch).

lab.models builds from it, lab.export writes its torch code and lab.theory takes its weight
variance; lab.fields takes the names Config accepts. A scheme is one torch.nn.init call (with
keyword arguments from the gain and the activation's slope), optionally followed by
`.mul_(gain)`, so that the model and the exported code cannot differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LEAKY_SLOPE = 0.01  # negative slope of leaky_relu, here and in kaiming's formula


@dataclass(frozen=True)
class Activation:
    """An activation: the torch.nn class that computes it and its constructor arguments."""

    module: str  # name in torch.nn
    args: tuple[float, ...] = ()
    slope: float = 0.0  # negative slope: the `a` of kaiming init (He et al.) for this activation

    def code(self) -> str:
        """The torch expression that builds it, as lab.export writes it."""
        return f"nn.{self.module}({', '.join(repr(a) for a in self.args)})"


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("Identity"),
    "sigmoid": Activation("Sigmoid"),
    "tanh": Activation("Tanh"),
    "relu": Activation("ReLU"),
    "leaky_relu": Activation("LeakyReLU", (LEAKY_SLOPE,), slope=LEAKY_SLOPE),
    "gelu": Activation("GELU"),
    "selu": Activation("SELU"),
}

# Var(W) of a (fan_out, fan_in) weight from (gain, fan_in, fan_out, slope)
Variance = Callable[[float, int, int, float], float]


@dataclass(frozen=True)
class InitScheme:
    """One weight init: torch.nn.init.<fill>(w, **args(gain, slope)) [then w.mul_(gain)]."""

    fill: str  # function name in torch.nn.init
    args: Callable[[float, float], dict[str, Any]] = field(default=lambda g, a: {})
    scale_after: bool = False  # the function has no gain: multiply by it afterwards
    variance: Variance = field(default=lambda g, fi, fo, a: 0.0)
    random: bool = True  # draws numbers (takes a generator); zeros_ does not

    def kwargs(self, gain: float, activation: str) -> dict[str, Any]:
        """Keyword arguments of the torch.nn.init call for `gain` and `activation`."""
        return self.args(gain, ACTIVATIONS[activation].slope)

    def code(self, name: str, gain: float, activation: str) -> str:
        """One line of torch that initializes tensor `name` this way (lab.export)."""
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs(gain, activation).items())
        return f"nn.init.{self.fill}({name}{args})" + (f".mul_({gain!r})" if self.scale_after
                                                        else "")

    def weight_variance(self, gain: float, fan_in: int, fan_out: int, activation: str) -> float:
        """Var(W) of one (fan_out, fan_in) layer, the mean-field theory's sigma_w^2 / fan_in."""
        return self.variance(gain, fan_in, fan_out, ACTIVATIONS[activation].slope)


def _kaiming(gain: float, fan_in: int, fan_out: int, slope: float) -> float:
    # He et al.: Var = 2 / ((1 + a^2) fan_in), a the activation's negative slope
    return gain**2 * 2.0 / (1.0 + slope * slope) / fan_in


_KAIMING_ARGS = lambda g, a: {"a": a, "nonlinearity": "leaky_relu"}  # noqa: E731 - table entry

INITS: dict[str, InitScheme] = {
    "zeros": InitScheme("zeros_", random=False),
    "normal": InitScheme("normal_", lambda g, a: {"mean": 0.0, "std": g},
                         variance=lambda g, fi, fo, a: g * g),
    "uniform": InitScheme("uniform_", lambda g, a: {"a": -g, "b": g},  # U(-g, g): g^2 / 3
                          variance=lambda g, fi, fo, a: g * g / 3.0),
    "xavier_normal": InitScheme("xavier_normal_", lambda g, a: {"gain": g},
                                variance=lambda g, fi, fo, a: g * g * 2.0 / (fi + fo)),
    "xavier_uniform": InitScheme("xavier_uniform_", lambda g, a: {"gain": g},
                                 variance=lambda g, fi, fo, a: g * g * 2.0 / (fi + fo)),
    "kaiming_normal": InitScheme("kaiming_normal_", _KAIMING_ARGS, True, _kaiming),
    "kaiming_uniform": InitScheme("kaiming_uniform_", _KAIMING_ARGS, True, _kaiming),
    "lecun_normal": InitScheme("kaiming_normal_", lambda g, a: {"nonlinearity": "linear"},
                               True, lambda g, fi, fo, a: g * g / fi),  # std = 1/sqrt(fan_in)
    # rows (or columns, whichever are fewer) orthonormal times g: the squares sum to
    # g^2 min(fi, fo) over fi * fo entries
    "orthogonal": InitScheme("orthogonal_", lambda g, a: {"gain": g},
                             variance=lambda g, fi, fo, a: g * g / max(fi, fo)),
}
