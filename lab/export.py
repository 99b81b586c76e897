"""Export: the few lines that reproduce a run with `lab`, and the model in plain PyTorch."""

from __future__ import annotations

from lab.config import Config
from lab.data import sizes
from lab.registry import ACTIVATIONS, INITS


def lab_code(cfg: Config) -> str:
    """Python that trains `cfg` with the lab and prints what happened."""
    query = cfg.to_query()
    make = f'lab.Config.from_query("{query}")' if query else "lab.Config()"
    return "\n".join([
        "import lab",
        "",
        f"cfg = {make}",
        "run = lab.train(cfg)",
        "print(run.summary())",
    ])


def init_code(cfg: Config, name: str) -> str:
    """One line that initializes weight tensor `name` the way lab.build_model does."""
    return INITS[cfg.init].code(name, cfg.init_gain, cfg.activation)


def torch_code(cfg: Config) -> str:
    """A self-contained plain-PyTorch definition of the network `cfg` describes."""
    n_in, n_out, image_shape = sizes(cfg)  # no dataset built (nor torch) for 2-D and digits
    w = cfg.width
    conv = cfg.arch == "cnn"
    norm = "nn.BatchNorm2d" if conv else "nn.BatchNorm1d"
    lines = ["import torch", "from torch import nn", "", "",
             "class Block(nn.Module):",
             "    def __init__(self, n_in, n_out, residual):",
             "        super().__init__()"]
    if conv:
        lines.append("        self.layer = nn.Conv2d(n_in, n_out, 3, padding=1)")
    else:
        lines.append("        self.layer = nn.Linear(n_in, n_out)")
    parts = []
    if cfg.batchnorm == "before":
        parts.append(f"{norm}(n_out)")
    parts.append(ACTIVATIONS[cfg.activation].code())
    if cfg.batchnorm == "after":
        parts.append(f"{norm}(n_out)")
    if cfg.dropout > 0:
        parts.append(f"nn.Dropout({cfg.dropout!r})")
    lines += [f"        self.rest = nn.Sequential({', '.join(parts)})",
              "        self.residual = residual",
              "",
              "    def forward(self, x):",
              "        h = self.rest(self.layer(x))",
              "        return x + h if self.residual else h",
              "", ""]
    if conv:
        h, wd = image_shape
        stem = f"nn.Unflatten(1, (1, {h}, {wd}))"
        head = f"nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear({16 * w}, {n_out})"
        first = 1
    else:
        stem, head, first = "nn.Identity()", f"nn.Linear({w}, {n_out})", n_in
    residual = "i > 0" if cfg.residual else "False"
    lines += [
        "model = nn.Sequential(",
        f"    {stem},",
        f"    *[Block({first} if i == 0 else {w}, {w}, residual={residual}) "
        f"for i in range({cfg.depth})],",
        f"    {head},",
        ")",
        f"torch.manual_seed({cfg.seed})",
        "with torch.no_grad():",
        "    for m in model.modules():",
        "        if isinstance(m, (nn.Linear, nn.Conv2d)):",
        f"            {init_code(cfg, 'm.weight')}",
        "            nn.init.zeros_(m.bias)",
    ]
    return "\n".join(lines)
