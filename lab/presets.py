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

    def title_in(self, lang: str) -> str:
        """The title in `lang` ("en" or "zh")."""
        return ZH[self.name][0] if lang == "zh" else self.title

    def lesson_in(self, lang: str) -> str:
        """The lesson sentence in `lang` ("en" or "zh")."""
        return ZH[self.name][1] if lang == "zh" else self.lesson


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
        "sit near -1 or +1, where tanh is flat, and stay there: the net reaches only 45-70%, "
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

# name -> (title, lesson) in Chinese: one sentence each, quoting the English lesson's numbers
# (tests/test_i18n.py compares them)
ZH: dict[str, tuple[str, str]] = {
    "vanishing-sigmoid": (
        "梯度消失（sigmoid）",
        "每个 sigmoid 最多只把 1/4 的梯度传回去，所以第 1 层得到的梯度大约只有第 10 层的百万分之"
        "一：300 步 SGD 之后它的权重几乎没动，网络停在随机水平（~33%）。"),
    "exploding-init": (
        "梯度爆炸（初始化过大）",
        "He 初始化的缩放加倍后，梯度在回传的每一层都翻倍：第 1 层得到的梯度约是第 10 层的 300 倍"
        "，第一个损失约为 1400，带动量的 SGD 在 3 步之内就发散了。"),
    "tanh-saturation": (
        "饱和的 tanh 单元",
        "用 N(0, 1) 的权重（Xavier 尺度的 8 倍）时，第 2-10 层约 3/4 的 tanh 单元停在 -1 或 +1 附"
        "近、tanh 平坦的地方，并一直停在那里：网络只能达到 45-70%，而 Xavier 初始化能超过 95%。"),
    "dead-relu": (
        "死亡的 ReLU 单元（学习率过大）",
        "学习率 0.1（默认值的 30 倍）的 Adam 会杀死 ReLU：60 步之内第 2-10 层超过 75% 的单元对每"
        "个输入都输出 0（初始化时约 20%），得不到梯度，一直死着，网络停在随机水平。"),
    "zero-init-symmetry": (
        "全零初始化无法打破对称",
        "全零权重让同一层的所有单元得到相同的梯度：300 步 Adam 之后每层的 64 个单元权重仍然完全相"
        "同，相当于一个单元，损失几乎不降（从 1.10 到 1.06）。"),
    "xavier-tanh": (
        "tanh 配 Xavier 初始化",
        "Xavier 初始化让 tanh 从接近线性的中段开始：没有单元饱和，第 1 层得到的梯度约为第 10 层的"
        "一半（既不消失也不爆炸），网络学会了螺旋数据（超过 95%）。"),
    "he-relu": (
        "ReLU 配 He 初始化",
        "He 初始化（权重方差 2/fan-in）弥补了 ReLU 把一半输入置零：在 20 层中梯度始终保持在平坦值"
        "的 3 倍以内，而 Xavier 每层把它缩小约 1.4 倍，到第 1 层只剩约 1/1000。"),
    "batchnorm-before": (
        "在激活之前做批归一化",
        "在每个 sigmoid 之前做批归一化，让它的输入保持在曲线陡峭的中段：梯度消失的网络中第 1 层现"
        "在得到的梯度比第 10 层还多，没有单元饱和，SGD 能达到 85% 以上。"),
    "batchnorm-after": (
        "在激活之后做批归一化",
        "在每个 sigmoid 之后做批归一化同样治好了梯度消失（SGD：>90%），但它归一化的是下一层的输入"
        "而不是 sigmoid 的输入，所以一层中最多约 10% 的单元会饱和（BN 在前：<1%）。"),
    "batchnorm-deep-explodes": (
        "深层网络中批归一化让梯度爆炸",
        "初始化时批归一化让梯度朝输入方向每层增长约 1.2 倍（Yang 等，2019；不用 BN 约 1 倍），所"
        "以在这个 50 层的 ReLU 网络中第 1 层得到的梯度约是第 50 层的 30,000 倍。"),
    "dropout-heavy": (
        "小数据集上的大比例 dropout",
        "Dropout 0.5 让图中的训练损失停在 0.05 附近，但不带 dropout 评估时网络仍然拟合了全部 240 "
        "个训练数字；无论有没有 dropout，留出集准确率都是 85-100%。"),
    "clip-saves-exploding": (
        "梯度裁剪驯服梯度爆炸",
        "把梯度范数裁剪到 5 就救回了爆炸的初始化：不裁剪时 3 步内就发散的网络训练完了全部 300 步"
        "，损失从约 1400 降到 2 以下，准确率升到 80% 以上。"),
    "clip-cannot-fix-vanishing": (
        "梯度裁剪治不了梯度消失",
        "裁剪只会把梯度缩小：在梯度消失的 sigmoid 网络上它在约 90% 的步中起作用，但第 1 层的权重"
        "仍然几乎不动，网络停在随机水平。"),
    "adam-vs-sgd": (
        "梯度消失时的 Adam 与 SGD",
        "在梯度消失的 sigmoid 网络上，Adam（学习率 0.003）按每个权重自己的梯度历史决定步长，所以"
        "第 1 层和第 10 层动得差不多快，网络达到约 50%；SGD（学习率 0.1）停在随机水平。"),
    "residual-deep": (
        "50 层网络中的残差连接",
        "跳跃连接把梯度直接送到第 1 层（始终大于第 50 层的 5 倍），所以这个 50 层的 tanh 网络学会"
        "了螺旋数据（>85%）；没有它们，第 1 层的梯度崩塌，网络停滞（<60%）。"),
}


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
