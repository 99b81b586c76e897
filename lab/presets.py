"""Presets: named scenarios for the classroom, each with the one claim its training shows.

Every lesson sentence is checked against an actual run of its config in tests/test_presets.py.
A number about initialization is what any machine measures; a number after training is a range
that holds over seeds and CPU kernel settings (docs/claims.json, README: Lessons).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.config import Config


@dataclass(frozen=True)
class Preset:
    """A named scenario: a config and the one-sentence claim a student should see in its run."""

    name: str  # kebab-case id, e.g. "vanishing-sigmoid"
    title: str  # short human title
    config: Config
    lesson: str  # one sentence: the claim the run shows
    verdict: tuple[str, str]  # (kind, severity) lab.diagnosis gives the finished run


# The vanishing net that several presets start from: 10 sigmoid layers, Xavier init, plain SGD.
_SIGMOID = Config(activation="sigmoid", init="xavier_normal", optimizer="sgd", lr=0.1)
# He init with its gain doubled; SGD with momentum at a usual learning rate blows up on it.
_EXPLODING = Config(init="kaiming_normal", init_gain=2.0, optimizer="momentum", lr=0.01)

_PRESETS = (
    Preset(
        "vanishing-sigmoid", "Vanishing gradients (sigmoid)", _SIGMOID,
        "Each sigmoid passes back at most 1/4 of the gradient, so layer 1 gets about a millionth "
        "of layer 10's: after 300 SGD steps its weights have barely moved and the net is stuck "
        "at chance (~33%).",
        ("vanishing", "problem"),
    ),
    Preset(
        "exploding-init", "Exploding gradients (init too large)", _EXPLODING,
        "He init with its gain doubled doubles the gradient at every layer on the way back: "
        "layer 1 gets ~300x layer 10's gradient, the first loss is ~1400, and SGD with momentum "
        "blows up within 3 steps.",
        ("diverged", "problem"),
    ),
    Preset(
        "tanh-saturation", "Saturated tanh units",
        Config(activation="tanh", init="normal", init_gain=1.0),
        "With N(0, 1) weights (8x the Xavier scale) about 3/4 of the tanh units in layers 2-10 "
        "sit near -1 or +1, where tanh is flat, and stay there: the net reaches only 45-65%, "
        "Xavier init over 95%.",
        ("saturated", "watch"),
    ),
    Preset(
        "dead-relu", "Dead ReLU units (learning rate too large)", Config(lr=0.1),
        "Adam at lr 0.1 (30x the default) kills ReLUs: within 60 steps over 75% of the units in "
        "layers 2-10 output 0 for every input (~20% at init), get no gradient, stay dead, and the "
        "net stays at chance.",
        ("dead", "problem"),
    ),
    Preset(
        "zero-init-symmetry", "Zero init never breaks symmetry",
        Config(depth=4, activation="sigmoid", init="zeros"),
        "All-zero weights give all units of a layer the same gradient: after 300 Adam steps "
        "each layer's 64 units still have identical weights, acting as one unit, and the loss "
        "barely falls (1.10 to 1.06).",
        ("symmetric", "problem"),
    ),
    Preset(
        "xavier-tanh", "Xavier init for tanh", Config(activation="tanh", init="xavier_normal"),
        "Xavier init starts tanh in its near-linear middle: no unit saturated, layer 1 gets about "
        "half of layer 10's gradient (neither vanishing nor exploding), and the net learns the "
        "spirals (over 95%).",
        ("healthy", "fine"),
    ),
    Preset(
        "he-relu", "He init for ReLU", Config(depth=20),
        "He init (weight variance 2/fan-in) makes up for ReLU zeroing half its inputs: over 20 "
        "layers the gradient stays within 3x of flat, while Xavier shrinks it ~1.4x per layer to "
        "~1/1000 at layer 1.",
        ("healthy", "fine"),
    ),
    Preset(
        "batchnorm-before", "Batch norm before the activation",
        _SIGMOID.replace(batchnorm="before"),
        "Batch norm before each sigmoid keeps its inputs on the steep middle of the curve: layer 1 "
        "of the vanishing net now gets more gradient than layer 10, no unit saturates, and SGD "
        "reaches over 85%.",
        ("healthy", "fine"),
    ),
    Preset(
        "batchnorm-after", "Batch norm after the activation",
        _SIGMOID.replace(batchnorm="after"),
        "Batch norm after each sigmoid also cures the vanishing (SGD: >90%), but it "
        "normalizes the next layer's input, not the sigmoid's, so up to ~10% of a layer's units "
        "saturate (BN before: <1%).",
        ("healthy", "fine"),
    ),
    Preset(
        "batchnorm-deep-explodes", "Batch norm explodes gradients in deep nets",
        Config(depth=50, batchnorm="before", steps=100),
        "At init batch norm makes the gradient grow ~1.2x per layer toward the input (Yang et al. "
        "2019; ~1x without BN), so in this 50-layer ReLU net layer 1 gets ~30,000x layer 50's "
        "gradient.",
        ("exploding", "problem"),
    ),
    Preset(
        "dropout-heavy", "Heavy dropout on a small dataset",
        Config(dataset="digits", n_samples=300, depth=2, width=128, dropout=0.5),
        "Dropout 0.5 keeps the plotted training loss near 0.05, yet evaluated without dropout the "
        "net still fits all 240 training digits; held-out accuracy is 85-100% with or without it.",
        ("healthy", "fine"),
    ),
    Preset(
        "clip-saves-exploding", "Clipping tames exploding gradients",
        _EXPLODING.replace(clip="norm", clip_threshold=5.0),
        "Clipping the gradient norm to 5 rescues the exploding init: the net that blows up "
        "within 3 steps without clipping trains all 300 steps, its loss falling from ~1400 to "
        "below 2, accuracy to >80%.",
        ("healthy", "fine"),
    ),
    Preset(
        "clip-cannot-fix-vanishing", "Clipping cannot fix vanishing gradients",
        _SIGMOID.replace(clip="norm", clip_threshold=0.1),
        "Clipping only ever scales gradients down: on the vanishing sigmoid net it acts on ~90% "
        "of steps, yet layer 1's weights still barely move and the net stays at chance.",
        ("vanishing", "problem"),
    ),
    Preset(
        "adam-vs-sgd", "Adam versus SGD on vanishing gradients",
        _SIGMOID.replace(optimizer="adam", lr=0.003),
        "On the vanishing sigmoid net Adam (lr 0.003) sizes each weight's step by its own "
        "gradient history, so layer 1 moves about as fast as layer 10 and the net reaches "
        "~50%; SGD (lr 0.1) stays at chance.",
        ("vanishing", "problem"),
    ),
    Preset(
        "residual-deep", "Residual connections in a 50-layer net",
        Config(depth=50, activation="tanh", init="xavier_normal", residual=True, steps=150),
        "Skip connections carry the gradient straight to layer 1 (always >5x layer 50's), so "
        "this 50-layer tanh net learns the spirals (>85%); without them layer 1's gradient "
        "collapses and it stalls (<60%).",
        ("healthy", "fine"),
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}  # in teaching order


def names() -> list[str]:
    """Names of all presets, in teaching order."""
    return list(PRESETS)


def get(name: str) -> Preset:
    """The preset called `name`; ValueError naming it and listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}"
        ) from None
