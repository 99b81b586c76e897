"""Messages and figure texts the lab writes in English, with their Chinese, by pattern.

MESSAGES: the messages other modules raise in English (a bad query value, a config that does not
go together, a run over the limits), so config.py and limits.py keep one language. FIGURE_ZH and
FIGURE_PATTERNS: the figure's own texts (lab/plots.py and its panels draw in English). Looked up
by lab/i18n.py's message and figure_text. Pure data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# ---------------------------------------------------------------- messages raised in English
# (pattern on the English message, its Chinese with the pattern's groups). Groups keep values
# and field names as the page was given them: a student reads `depth='abc'` either way.
_FIELD = r"(?P<field>[\w.]+)=(?P<value>.*?)"
MESSAGES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
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
SUFFIXES = [("; using the default ", "；改用默认的 "), ("; using the defaults", "；改用默认设置")]

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
FIGURE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
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
