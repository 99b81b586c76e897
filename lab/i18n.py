"""The dashboard's languages: English (the source) and Chinese (中文), one table of strings.

`text(key, lang, **values)` returns the string of `key` in `lang` with `values` filled in. The
English strings of the controls (lab/controls.py LABELS), of the verdict (lab/diagnosis.py) and
of the presets (lab/presets.py) stay where they are; this table holds their Chinese and the
dashboard's own strings in both languages. Messages that other modules raise in English (a bad
query value, a config that does not go together, a run over the limits) are translated here by
pattern (`message`), so config.py and limits.py keep one language. Pure Python: no widgets, no
plotting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

LANGS = ("en", "zh")  # what lang= may be
LANG_NAMES = {"en": "English", "zh": "中文"}  # each in its own language: the switch's labels

# key -> English; the dashboard's own strings (controls' English is lab/controls.py's LABELS)
EN: dict[str, str] = {
    "preset": "Preset",
    "preset.none": "(choose a scenario)",
    "preset.option": "{name}: {title}",
    "pin": "Pin as A/B",
    "pin.tip": "Keep this run as grey ghost lines",
    "unpin": "Unpin",
    "share": "Share",
    "share.tip": "Add to the page address",
    "share.defaults": "(defaults)",
    "code.show": "Show code",
    "code.torch": "# the same network in plain PyTorch",
    "download.png": "Download figure (PNG)",
    "download.json": "Download config (JSON)",
    "diagnosis": "<b>Diagnosis:</b> {text}",
    "lang": "Language",
    "intro": "",  # English: the page's own introduction (notebooks/dashboard.ipynb markdown)
    "lang.tip": "Language of the dashboard: English / 中文",
    "status": "{describe} · {state}{loss} · {device}{source} · {seconds:.1f} s",
    "status.training": "at initialization, training...",
    "status.loss": " · loss {loss:.3g}",
    "status.cache": " · from cache",
    "status.error": "{describe} · stopped by an error",
    "describe": ("depth {depth} · width {width} · {activation} · {init} x{init_gain:g} · "
                 "{optimizer} lr {lr:g}"),
    "failed": "Something went wrong: {what}",
    "defaults": "{refused} Showing the defaults.",
    # Run.status(), word for word (lab/run.py)
    "run.init": "at initialization (step 0)",
    "run.diverged": "diverged at step {step}",
    "run.stopped_early": "stopped early at step {step}",
    "run.time_limit": "stopped at the {limit:g} s CPU time limit at step {step}",
    "run.cancelled": "cancelled at step {step} of {steps}",
    "run.step": "step {step} of {steps}",
    "run.finished": "finished {step} steps",
    "run.restored": "{outcome}; showing the best weights, from step {step}",
}

# key -> Chinese. Keys with no English above: control.<label> / tip.<label> (a control's label
# and tooltip, by its English label in lab/controls.py LABELS, so a relabelled control finds
# its own), group.<group>, option.<field>.<value> (a dropdown's choice), diag.* (verdict
# templates, lab/diagnosis.py). Some keys name config choices not in every version of the lab
# (rmsprop, plateau, the Inputs dropdown): a table may hold more than the lab uses.
ZH: dict[str, str] = {
    "preset": "预设场景",
    "preset.none": "（选择一个场景）",
    "preset.option": "{name}：{title}",
    "pin": "固定为 A/B 对照",
    "pin.tip": "把这次运行保留为灰色的对照线",
    "unpin": "取消固定",
    "share": "分享",
    "share.tip": "加在页面地址后面",
    "share.defaults": "（默认设置）",
    "code.show": "显示代码",
    "code.torch": "# 同一个网络，用纯 PyTorch 写",
    "download.png": "下载图像 (PNG)",
    "download.json": "下载配置 (JSON)",
    "diagnosis": "<b>诊断：</b>{text}",
    "lang": "语言",
    "intro": ("<p>移动一个控件，看一个小网络重新训练：它的激活值如何逐层散开（左侧的图），"
              "以及每一层收到多少梯度（中间的图）。试试把<b>激活函数</b>设为 <i>sigmoid</i>、"
              "<b>隐藏层数</b>设为 <b>20</b>，看第 1 层的梯度消失；再把<b>批归一化</b>改为"
              "<i>激活之前</i>，或把<b>权重初始化</b>改为 <i>He (Kaiming) 正态</i>。"
              "也可以选一个<b>预设场景</b>：每个场景都写明你应该看到什么。</p>"
              "<p><i>固定为 A/B 对照</i>把当前的运行保留为灰色的对照线；<i>分享</i>是能重新打开"
              "这个场景的网址后缀。</p>"),
    "lang.tip": "仪表盘的语言：English / 中文",
    "status": "{describe} · {state}{loss} · {device}{source} · {seconds:.1f} 秒",
    "status.training": "初始化完成，训练中……",
    "status.loss": " · 损失 {loss:.3g}",
    "status.cache": " · 来自缓存",
    "status.error": "{describe} · 因错误而停止",
    "describe": ("深度 {depth} · 宽度 {width} · {activation} · {init} x{init_gain:g} · "
                 "{optimizer} 学习率 {lr:g}"),
    "failed": "出错了：{what}",
    "defaults": "{refused}改为显示默认设置。",
    "run.init": "初始化时（第 0 步）",
    "run.diverged": "在第 {step} 步发散",
    "run.stopped_early": "在第 {step} 步提前停止",
    "run.time_limit": "在第 {step} 步达到 {limit:g} 秒 CPU 时间上限而停止",
    "run.cancelled": "在第 {step}/{steps} 步取消",
    "run.step": "第 {step}/{steps} 步",
    "run.finished": "已完成 {step} 步",
    "run.restored": "{outcome}；显示最佳权重（来自第 {step} 步）",
    # groups of controls
    "group.Model": "模型",
    "group.Initialization": "初始化",
    "group.Regularization": "正则化",
    "group.Optimization": "优化",
    "group.Data": "数据",
    # controls: label and tooltip
    "control.Hidden layers": "隐藏层数",
    "tip.Hidden layers": "隐藏层的数量：网络越深，梯度越容易消失或爆炸",
    "control.Units per layer": "每层单元数",
    "tip.Units per layer": "每个隐藏层的神经元数",
    "control.Activation": "激活函数",
    "tip.Activation": "每个隐藏层之后的非线性函数",
    "control.Skip connections": "跳跃连接",
    "tip.Skip connections": "把每个块的输入加到它的输出上（残差连接）",
    "control.Weight init": "权重初始化",
    "tip.Weight init": "初始权重如何抽取",
    "control.Init scale": "初始化缩放",
    "tip.Init scale": "初始化的倍数（对“正态分布”就是标准差）",
    "control.BatchNorm": "批归一化",
    "tip.BatchNorm": "在每个激活函数之前或之后做批归一化 (BatchNorm)",
    "control.Dropout": "Dropout 比例",
    "tip.Dropout": "训练时每个单元被丢弃的概率",
    "control.Weight decay": "权重衰减",
    "tip.Weight decay": "权重的 L2 惩罚",
    "control.Clip gradients": "梯度裁剪",
    "tip.Clip gradients": "限制梯度的全局范数或每个分量",
    "control.Clip at": "裁剪阈值",
    "tip.Clip at": "梯度裁剪使用的上限",
    "control.Optimizer": "优化器",
    "tip.Optimizer": "SGD、带动量 0.9 的 SGD、Adam 等优化器",
    "control.Learning rate": "学习率",
    "tip.Learning rate": "优化器的步长",
    "control.LR schedule": "学习率调度",
    "tip.LR schedule": "学习率在训练中怎样变化：保持不变、分段下降、余弦衰减等",
    "control.Batch size": "批大小",
    "tip.Batch size": "每一步使用的样本数",
    "control.Steps": "训练步数",
    "tip.Steps": "训练多少个优化步",
    "control.Early stop": "提前停止",
    "tip.Early stop": "连续这么多次评估没有改进就停止（0 = 从不）",
    "control.Restore best": "恢复最佳权重",
    "tip.Restore best": "训练结束时回到验证损失最低时的权重（需要开启提前停止）",
    "control.Dataset": "数据集",
    "tip.Dataset": "网络要学会分类的数据",
    "control.Standardize": "标准化",
    "tip.Standardize": "把输入缩放到均值 0、标准差 1",
    "control.Inputs": "输入预处理",  # the dropdown that replaces the Standardize checkbox
    "tip.Inputs": "z-score 标准化（用训练集统计量）、缩放到 [0, 1]，或原始值",
    "control.Noise": "噪声",
    "tip.Noise": "二维数据集的抖动",
    "control.Seed": "随机种子",
    "tip.Seed": "数据、初始化、批次和 dropout 的随机种子",
    # dropdown choices (English: the value itself, as before; or the Config's label)
    "option.activation.linear": "线性 (linear)",
    "option.activation.relu": "ReLU",
    "option.activation.leaky_relu": "Leaky ReLU",
    "option.activation.gelu": "GELU",
    "option.activation.selu": "SELU",
    "option.init.zeros": "全零",
    "option.init.normal": "正态分布 N(0, 缩放²)",
    "option.init.uniform": "均匀分布",
    "option.init.xavier_normal": "Xavier 正态",
    "option.init.xavier_uniform": "Xavier 均匀",
    "option.init.kaiming_normal": "He (Kaiming) 正态",
    "option.init.kaiming_uniform": "He (Kaiming) 均匀",
    "option.init.lecun_normal": "LeCun 正态",
    "option.init.orthogonal": "正交",
    "option.batchnorm.none": "不用",
    "option.batchnorm.before": "激活之前",
    "option.batchnorm.after": "激活之后",
    "option.optimizer.sgd": "SGD（随机梯度下降）",
    "option.optimizer.momentum": "SGD + 动量 0.9",
    "option.optimizer.adam": "Adam（自适应矩估计）",
    "option.optimizer.rmsprop": "RMSprop（均方根传播）",
    "option.lr_schedule.constant": "恒定",
    "option.lr_schedule.step": "分段下降",
    "option.lr_schedule.cosine": "余弦衰减",
    "option.lr_schedule.plateau": "停滞时降低",
    "option.clip.none": "不裁剪",
    "option.clip.norm": "按范数裁剪",
    "option.clip.value": "按值裁剪",
    "option.dataset.spirals": "螺旋",
    "option.dataset.moons": "双月",
    "option.dataset.circles": "同心圆",
    "option.dataset.xor": "异或 (XOR)",
    "option.dataset.digits": "手写数字 (8x8)",
    "option.dataset.mnist": "MNIST 手写数字",
    "option.dataset.fashion_mnist": "Fashion-MNIST 服装图像",
    "option.standardize.zscore": "标准化 (z-score)",
    "option.standardize.unit": "缩放到 [0, 1]",
    "option.standardize.none": "原始值",
    # the verdict (lab/diagnosis.py), clause by clause
    "diag.empty": "尚无记录。",
    "diag.at_init": "初始化时",
    "diag.step": "第 {step}/{steps} 步",
    "diag.flow": "第 1 层收到的梯度是第 {depth} 层的 {ratio} 倍，{why}",
    "diag.by_design": "这种增长来自{grower}的设计",
    "diag.neither": "既没有消失也没有爆炸",
    "diag.one_layer": "只有一个隐藏层，梯度无处可消失",
    "diag.grower.residual": "跳跃连接",
    "diag.grower.batchnorm": "批归一化层",
    "diag.sentence": "{where}：{flow}。",
    "diag.try": "{head}：{cause}。可以试试{remedy}。",
    "diag.learns_but": "在学习（{words}），但{cause}。可以试试{remedy}。",
    "diag.healthy": "健康：验证准确率 {words}（随机猜测为 {chance}）{flow}。",
    "diag.healthy_flow": "；第 1 层收到的梯度是第 {depth} 层的 {ratio} 倍",
    "diag.so_far": "目前 {words}",
    "diag.lately": "最近在 {low}-{high} 之间",
    "diag.stuck": "停在随机水平附近（{words}，随机猜测为 {chance}）",
    "diag.partly": "只学到一部分（{words}，随机猜测为 {chance}）",
    "diag.slow": "{head}；损失下降得很慢。可以试试{remedy}。",
    "diag.diverged": "在第 {step} 步发散：损失或某个梯度变成了 inf/NaN{detail}。可以试试{remedy}。",
    "diag.diverged_detail": "（初始化时第 1 层得到的梯度是第 {depth} 层的 {ratio} 倍）",
    "diag.symmetric": "全零初始化让同一层的单元得到相同的梯度，所以它们始终一模一样",
    "diag.dead": "{where}中 {share} 的 ReLU 已经死亡（对每个输入都输出 0，没有梯度）",
    "diag.saturated": "{where}中 {share} 的 {act} 单元停在函数平坦的两端",
    "diag.linear": "线性层叠在一起仍是一个线性映射，它的类别边界是直线",
    "diag.vanishing": "{when}的梯度是第 {depth} 层的 {ratio} 倍（{where}低于 1/100）",
    "diag.exploding": "{when}的梯度是第 {depth} 层的 {ratio} 倍{why}",
    "diag.exploding_bn": "（批归一化使它增长）",
    "diag.when.now": "第 1 层得到",
    "diag.when.init": "初始化时第 1 层得到",
    "diag.layer": "第 {layer} 层",
    "diag.layers": "第 {spans} 层",
    "diag.some_layers": "第 {first}-{last} 层中的 {count} 层",
    # remedies, by their English words
    "remedy.a larger learning rate or more steps": "更大的学习率或更多的训练步数",
    "remedy.a smaller init gain or gradient clipping": "更小的初始化缩放或梯度裁剪",
    "remedy.a lower learning rate or gradient clipping": "更低的学习率或梯度裁剪",
    "remedy.a random init (He or Xavier)": "随机初始化（He 或 Xavier）",
    "remedy.a lower learning rate or leaky ReLU": "更低的学习率或 leaky ReLU",
    "remedy.Xavier init or a smaller init gain": "Xavier 初始化或更小的初始化缩放",
    "remedy.batch norm before the activation": "在激活函数之前加批归一化",
    "remedy.a nonlinear activation": "非线性的激活函数",
    "remedy.fewer layers or skip connections": "更少的层或跳跃连接",
    "remedy.a larger init gain": "更大的初始化缩放",
    "remedy.He init": "He 初始化",
    "remedy.batch norm, or ReLU with He init": "批归一化，或 ReLU 配 He 初始化",
    "remedy.batch norm or skip connections": "批归一化或跳跃连接",
}


def check_lang(lang: str) -> str:
    """`lang` if it is one of LANGS; ValueError naming it and what is allowed otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang={lang!r}: must be one of {', '.join(LANGS)}")
    return lang


def text(key: str, lang: str = "en", en: str | None = None, **values: Any) -> str:
    """The string `key` in `lang` (English: EN[key], or `en` where the English lives
    elsewhere), with `values` filled in by str.format."""
    if lang == "zh" and key in ZH:
        template = ZH[key]
    elif en is not None:
        template = en
    else:
        template = EN[key]
    return template.format(**values) if values else template


def option_label(field: str, value: str, lang: str) -> str:
    """How a dropdown shows the choice `value` of `field`: English shows the value itself."""
    return text(f"option.{field}.{value}", lang, en=str(value)) if lang == "zh" else str(value)


def run_status(run: Any, lang: str = "en") -> str:
    """Run.status() in `lang`: how the run ended (or where it is), and which weights are shown."""
    if lang != "zh":
        return run.status()
    cfg = run.config
    if run.at_init and run.diverged_at is None:
        outcome = text("run.init", lang)
    elif run.diverged_at is not None:
        outcome = text("run.diverged", lang, step=run.diverged_at)
    elif run.stopped_early_at is not None:
        outcome = text("run.stopped_early", lang, step=run.stopped_early_at)
    elif run.time_limited_at is not None:
        outcome = text("run.time_limit", lang, limit=run.time_limit, step=run.time_limited_at)
    elif run.cancelled:
        outcome = text("run.cancelled", lang, step=run.steps_done, steps=cfg.steps)
    elif not run.finished:
        outcome = text("run.step", lang, step=run.steps_done, steps=cfg.steps)
    else:
        outcome = text("run.finished", lang, step=run.steps_done)
    if run.restored_from is None:
        return outcome
    return text("run.restored", lang, outcome=outcome, step=run.restored_from)


def describe(cfg: Any, lang: str = "en") -> str:
    """The config in one status line: depth, width, activation, init, optimizer and rate."""
    return text("describe", lang, depth=cfg.depth, width=cfg.width, activation=cfg.activation,
                init=cfg.init, init_gain=cfg.init_gain, optimizer=cfg.optimizer, lr=cfg.lr)


# ---------------------------------------------------------------- messages raised in English
# (pattern on the English message, its Chinese with the pattern's groups). Groups keep values
# and field names as the page was given them: a student reads `depth='abc'` either way.
_FIELD = r"(?P<field>[\w.]+)=(?P<value>.*?)"
_MESSAGES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^(?P<key>view|lang)=(?P<value>.*?): must be one of (?P<allowed>.*?); "
                r"showing (?P<then>the dashboard|English)$"),
     lambda m: (f"{m['key']}={m['value']}：必须是以下之一：{m['allowed']}；"
                + ("显示普通仪表盘" if m["then"] == "the dashboard" else "显示英文"))),
    (re.compile(r"^fields=(?P<value>.*?): (?P<names>.*) is not a control \(controls: "
                r"(?P<controls>.*)\); (?P<then>showing the others|showing all controls)$"),
     lambda m: (f"fields={m['value']}：{m['names'].replace('no control', '（空）')} 不是控件"
                f"（控件有：{m['controls']}）；"
                + ("显示其余控件" if m["then"] == "showing the others" else "显示全部控件"))),
    (re.compile(rf"^{_FIELD}: must be true or false$"), "{field}={value}：必须是 true 或 false"),
    (re.compile(rf"^{_FIELD}: must be one of (?P<allowed>.*)$"),
     "{field}={value}：必须是以下之一：{allowed}"),
    (re.compile(rf"^{_FIELD}: must be an integer in (?P<rule>\S+, \S+)$"),
     "{field}={value}：必须是 {rule} 范围内的整数"),
    (re.compile(rf"^{_FIELD}: must be a finite number in (?P<rule>\S+, \S+)$"),
     "{field}={value}：必须是 {rule} 范围内的有限数"),
    (re.compile(rf"^{_FIELD}: must be a number in (?P<rule>\S+, \S+)$"),
     "{field}={value}：必须是 {rule} 范围内的数"),
    (re.compile(rf"^{_FIELD}: must be in (?P<rule>\S+, \S+)$"),
     "{field}={value}：必须在 {rule} 范围内"),
    (re.compile(rf"^{_FIELD}: ignored, (?P<key>\w+) is given more than once$"),
     "{field}={value}：已忽略，{key} 给出了不止一次"),
    (re.compile(r"^unknown config field\(s\) (?P<names>.*?)(?: and (?P<more>\d+) more)?; "
                r"known fields: (?P<known>.*)$"),
     lambda m: (f"未知的配置字段 {m['names']}"
                + (f" 等另外 {m['more']} 个" if m["more"] else "") + f"；已知字段：{m['known']}")),
    (re.compile(r"^query not understood \((?P<why>.*)\)$"), "无法理解网址参数（{why}）"),
    (re.compile(r"^arch='cnn' needs an image dataset \((?P<images>.*)\), "
                r"not dataset=(?P<value>.*)$"),
     "arch='cnn' 需要图像数据集（{images}），而不是 dataset={value}"),
    (re.compile(r"^batch_size=(?P<value>\d+): BatchNorm needs at least 2 examples per batch "
                r"\(batchnorm=(?P<bn>.*)\)$"),
     "batch_size={value}：批归一化每批至少需要 2 个样本（batchnorm={bn}）"),
    (re.compile(r"^restore_best=True needs early stopping"),
     "restore_best=True 需要提前停止：它保留提前停止所监视的验证损失最低时的权重；"
     "early_stopping=0 时模型就是最后一步的权重（把 early_stopping 设为 1 或更大，"
     "或把 restore_best 设为 false）"),
    (re.compile(r"^dataset=(?P<value>'[^']*'): (?P<missing>.*)$"),
     "dataset={value}：找不到数据文件（{missing}）"),
    (re.compile(r"^Too big for this server: depth (?P<depth>\d+) x width (?P<width>\d+) x "
                r"(?P<steps>\d+) steps \(batch (?P<batch>\d+)\) is (?P<units>[\d,]+) units of "
                r"work, about (?P<s>\d+) s; the limit (?P<env>\w+) allows (?P<max>[\d,]+) "
                r"\(about (?P<max_s>\d+) s\)\. Use fewer layers, units or steps, or a smaller "
                r"batch\.$"),
     "对这台服务器来说太大了：深度 {depth} x 宽度 {width} x {steps} 步（批大小 {batch}）"
     "需要 {units} 个工作单位，约 {s} 秒；上限 {env} 只允许 {max}（约 {max_s} 秒）。"
     "请减少层数、单元数或步数，或用更小的批。"),
]
_SUFFIXES = [("; using the default ", "；改用默认的 "), ("; using the defaults", "；改用默认设置")]


def message(english: str, lang: str = "en") -> str:
    """A message raised in English (bad query value, bad combination, limits), in `lang`.

    A message no pattern knows is shown in English after a Chinese lead-in, so the page never
    shows a message a Chinese reader cannot place (tests/test_i18n.py checks the known ones).
    """
    if lang != "zh" or not english:
        return english
    head, tail = english, ""
    for en, zh in _SUFFIXES:  # the config parser's "...; using the default depth"
        if en in head:
            head, rest = head.split(en, 1)
            tail = zh + rest + tail
            break
    zh = translate(head)
    return (zh if zh is not None else f"输入有误（英文原文）：{head}") + tail


def translate(english: str) -> str | None:
    """The Chinese of one known English message, or None if no pattern matches it."""
    for pattern, zh in _MESSAGES:
        m = pattern.match(english)
        if m:
            return zh(m) if callable(zh) else zh.format(**m.groupdict())
    return None


# ---------------------------------------------------------------- the figure's own text
# (lab/plots.py and its panels draw in English; lab/figure_style.py: localize puts each text
# artist through figure_text when the figure is in Chinese)
FIGURE_ZH: dict[str, str] = {
    "a. activations per layer": "a. 每层的激活值",
    "a. activations": "a. 激活值",
    "activation value": "激活值",
    "b. gradient size by layer": "b. 各层的梯度大小",
    "std dL/da, init": "std dL/da，初始化时",
    "std dL/da, now": "std dL/da，现在",
    "rms dL/dW, init": "rms dL/dW，初始化时",
    "rms dL/dW, now": "rms dL/dW，现在",
    "theory dL/da, init": "理论 dL/da，初始化时",
    "pinned: std dL/da, now": "固定的运行：std dL/da，现在",
    "layer (1 = input side)": "层（1 = 输入一侧）",
    "dL/da: a = a layer's output,\nper example (~1/batch)\ndL/dW: W = weights (other units)":
        "dL/da：a = 一层的输出，\n按单个样本计（约 1/批大小）\ndL/dW：W = 权重（单位不同）",
    "no finite gradient to draw": "没有可画的有限梯度",
    "c. gradient dL/da over training": "c. 训练过程中的梯度 dL/da",
    "log10 std dL/da (white: 0 or not finite)": "log10 std dL/da（白色：0 或非有限值）",
    "step": "步",
    "layer": "层",
    "d. loss and accuracy": "d. 损失和准确率",
    "train loss": "训练损失",
    "val loss": "验证损失",
    "pinned: train loss": "固定的运行：训练损失",
    "val accuracy": "验证准确率",
    "chance": "随机猜测",
    "accuracy": "准确率",
    "clipped step": "被裁剪的步",
    "loss (cross-entropy)": "损失（交叉熵）",
    "e. update:data ratio (log10)": "e. 更新量与权重之比 (log10)",
    "1e-3: healthy": "1e-3：健康",
    "colour: layer, as in a": "颜色：层，与 a 相同",
    "no update applied yet": "还没有应用任何更新",
    "f. decision boundary": "f. 决策边界",
    "f. validation images": "f. 验证图像",
    "f. validation images: no predictions": "f. 验证图像：没有预测",
    "no predictions: the model diverged": "没有预测：模型已发散",
    "grey dash-dot: pinned run": "灰色点划线：固定的运行",
    "residual": "残差",
}
_FIGURE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^a\. activations, step (\d+)$"), "a. 激活值，第 {0} 步"),
    (re.compile(r"^≤(\S+) off axis$"), "≤{0} 在坐标轴外"),
    (re.compile(r"^activation value \(labels: % in (.+)\)$"), "激活值（标签：落在 {0} 的比例）"),
    (re.compile(r"^sat (\S+)$"), "饱和 {0}"),
    (re.compile(r"^dead (\S+)$"), "死亡 {0}"),
    (re.compile(r"^chance \(1/(\d+)\)$"), "随机猜测 (1/{0})"),
    (re.compile(r"^layer (\d+)$"), "第 {0} 层"),
    (re.compile(r"^f\. validation images: (\d+/\d+) right$"), "f. 验证图像：{0} 正确"),
    (re.compile(r"^diverged at step (\d+)$"), "在第 {0} 步发散"),
    (re.compile(r"^stopped early at step (\d+)$"), "在第 {0} 步提前停止"),
    (re.compile(r"^showing the best weights, from step (\d+)$"), "显示最佳权重（来自第 {0} 步）"),
]


def figure_text(english: str, lang: str = "en") -> str:
    """One text of the figure in `lang`; a text no entry knows (numbers, L1) stays as it is.

    Texts joined by " · " or "; " (a layer's label, a status) are translated part by part.
    """
    if lang != "zh" or not english:
        return english
    if english in FIGURE_ZH:
        return FIGURE_ZH[english]
    for sep, zh_sep in (("  ·  ", "  ·  "), (" · ", " · "), ("; ", "；")):
        if sep in english:
            return zh_sep.join(figure_text(part, lang) for part in english.split(sep))
    for pattern, zh in _FIGURE_PATTERNS:
        m = pattern.match(english)
        if m:
            return zh.format(*m.groups())
    return english
