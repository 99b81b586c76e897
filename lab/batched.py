"""Batched training: runs of one architecture (seeds, init scales, learning rates) trained as one.

Each member's parameters are one row of a (members, P) leaf tensor and a hidden layer is one
batched matmul over members, so N small runs cost a few larger operations per step instead of
N times as many small ones (small models are bound by per-operation overhead, not arithmetic).
Members never mix: every operation is per member (bmm, cross entropy, BatchNorm over each
member's own batch, clipping, optimizer state), so each Run equals the one `lab.train` records
up to float rounding. Dropout masks are the exception: they come from one random stream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from lab import probes
from lab.config import Config
from lab.data import load
from lab.evaluation import eval_sets
from lab.models import build_model, make_activation
from lab.recorder import Recorder, recorded_steps, snapshot_steps
from lab.run import Run
from lab.trainer import (
    CHECK_EVERY,
    N_EVALS,
    RMSPROP_ALPHA,
    RMSPROP_EPS,
    SINGLE_THREAD_WIDTH,
    Batches,
    device_name,
    lr_at,
    predictions,
    resolve_device,
    train,
)

# Fields that may differ between members of one batch; every other field must be equal.
PER_MEMBER = ("seed", "init", "init_gain", "lr", "lr_schedule", "weight_decay",
              "clip_threshold", "noise", "standardize")
MAX_FLOATS = 2 ** 25  # parameters of all members of one batch (x4 with gradient and Adam state)
MAX_MEMBERS = 64
BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # nn.BatchNorm1d's defaults, as the sequential model uses
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults
MOMENTUM = 0.9


def batch_key(cfg: Config) -> Config:
    """The config with its per-member fields at their defaults: equal keys train together."""
    default = Config()
    return cfg.replace(**{name: getattr(default, name) for name in PER_MEMBER})


def batchable(cfg: Config) -> bool:
    """Whether `cfg` can join a batch: MLPs without early stopping (members stop together),
    without dropout (its masks would come from one shared stream, not each run's own) and
    without the plateau schedule (its rate follows each member's validation loss on the host);
    train_many trains the others alone with lab.train."""
    return (cfg.arch == "mlp" and cfg.early_stopping == 0 and cfg.dropout == 0
            and cfg.lr_schedule != "plateau")


def groups(configs: list[Config]) -> list[list[int]]:
    """Indices of `configs` trained together, in first-appearance order, within memory caps."""
    by_key: dict[object, list[int]] = {}
    for i, cfg in enumerate(configs):
        key = batch_key(cfg) if batchable(cfg) else ("alone", i)
        by_key.setdefault(key, []).append(i)
    out = []
    for members in by_key.values():
        n_params = sum(p.numel() for p in build_model(configs[members[0]]).parameters())
        size = max(1, min(MAX_MEMBERS, MAX_FLOATS // n_params))
        out.extend(members[i:i + size] for i in range(0, len(members), size))
    return out


def train_many(configs: list[Config],
               progress: Callable[[int, int], None] | None = None) -> list[Run]:
    """Train every config and return the Runs in order; same-architecture runs train together.

    `progress(done, total)` is called before each group and once at the end.
    """
    runs: list[Run | None] = [None] * len(configs)
    done = 0
    for members in groups(configs):
        if progress is not None:
            progress(done, len(configs))
        if len(members) == 1:
            runs[members[0]] = train(configs[members[0]])
        else:
            batch = BatchTrainer([configs[i] for i in members])
            for i, run in zip(members, batch.run(), strict=True):
                runs[i] = run
        done += len(members)
    if progress is not None:
        progress(len(configs), len(configs))
    return runs  # type: ignore[return-value]


class BatchTrainer:
    """N runs of one architecture: stacked parameters, per-member recording, N Runs at the end."""

    def __init__(self, configs: list[Config]):
        self.t0 = time.perf_counter()
        keys = {batch_key(c) for c in configs}
        if len(keys) != 1 or not all(batchable(c) for c in configs):
            raise ValueError("BatchTrainer: configs must be MLPs without early stopping, "
                             "dropout or the plateau schedule that "
                             f"differ only in {', '.join(PER_MEMBER)}")
        self.configs = configs
        self.cfg = cfg = configs[0]
        self.n = len(configs)
        self.device = resolve_device(cfg.device)
        self.datas = [load(c) for c in configs]
        self.nets = [build_model(c, d) for c, d in zip(configs, self.datas, strict=True)]
        self.act = make_activation(cfg.activation)

    def run(self) -> list[Run]:
        """Train all members for cfg.steps steps; one Run per member, in order."""
        threads = torch.get_num_threads()
        # one thread while a whole batch is still small (see lab.trainer.SINGLE_THREAD_WIDTH)
        single = self.device.type == "cpu" and self.cfg.width * self.n <= SINGLE_THREAD_WIDTH
        if single:
            torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.cfg.seed + 2)  # dropout masks (one stream for all)
                if self.device.type == "cuda":
                    torch.cuda.manual_seed(self.cfg.seed + 2)
                self._setup()
                done = self._loop()
            return self._runs(done)
        finally:
            if single:
                torch.set_num_threads(threads)

    # ---------------------------------------------------------------- setup
    def _setup(self) -> None:
        cfg, dev, n, steps = self.cfg, self.device, self.n, self.cfg.steps
        named = list(self.nets[0].named_parameters())
        hidden = [f"blocks.{i}.layer.weight" for i in range(cfg.depth)]
        # hidden weights first and contiguous, so per-layer slices are cheap to reach
        order = hidden + [name for name, _ in named if name not in hidden]
        # linear weights are kept transposed, (in, out): x @ W^T is then a plain batched matmul
        # and autograd hands back contiguous gradients (no copy to flatten them)
        self.transposed = {name for name, p in named if p.dim() == 2}
        shapes = {name: (p.t() if name in self.transposed else p).shape for name, p in named}
        self.slices: dict[str, tuple[int, int, torch.Size]] = {}
        start = 0
        for name in order:
            size = math.prod(shapes[name])
            self.slices[name] = (start, start + size, shapes[name])
            start += size
        self.hidden_end = self.slices[hidden[-1]][1]
        # runs of consecutive equal-size hidden weights: (start, stop, layers)
        self.hidden_groups: list[tuple[int, int, int]] = []
        for name in hidden:
            a, b, _ = self.slices[name]
            last = self.hidden_groups[-1] if self.hidden_groups else None
            if last is not None and (last[1] - last[0]) // last[2] == b - a:
                self.hidden_groups[-1] = (last[0], b, last[2] + 1)
            else:
                self.hidden_groups.append((a, b, 1))
        rows = []
        for net in self.nets:
            params = dict(net.named_parameters())
            rows.append(torch.cat([(params[name].t() if name in self.transposed
                                    else params[name]).detach().flatten() for name in order]))
        self.flat = torch.stack(rows).to(dev)  # (members, P): all parameters, one row each
        # leaves that view the flat rows: autograd gives each its own gradient (a gradient
        # through views of one leaf would add a zero-filled (members, P) copy per view)
        self.params = {}
        for name, (a, b, shape) in self.slices.items():
            self.params[name] = self.flat[:, a:b].view(n, *shape).requires_grad_(True)
        self.param_list = list(self.params.values())
        self.running: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for place in ("bn_before", "bn_after"):
            for i in range(cfg.depth):
                bn = getattr(self.nets[0].blocks[i], place)
                if bn is not None:  # (members * units,) flat, as F.batch_norm wants them
                    self.running[f"{place}.{i}"] = (
                        torch.zeros(n * cfg.width, device=dev), torch.ones(n * cfg.width,
                                                                           device=dev))
        self.bn_updates = 0
        # data: every member's own split, stacked; a batch is an index into the stack
        n_train = len(self.datas[0].x_train)
        self.x_train = torch.cat([d.x_train for d in self.datas]).to(dev)
        self.y_train = torch.cat([d.y_train for d in self.datas]).to(dev)
        # (members, examples, ...) each: validation, then the training subset lab.train evaluates
        sets = [eval_sets(d, torch.device("cpu")) for d in self.datas]
        self.eval_sets = [torch.stack(column).to(dev) for column in zip(*sets, strict=True)]
        cpu = torch.device("cpu")
        index = []
        for m, c in enumerate(self.configs):
            batches = Batches(c, n_train, cpu)
            index.append(torch.stack([batches.next() for _ in range(steps)]) + m * n_train)
        self.index = torch.stack(index, dim=1).to(dev)  # (steps, members, batch)
        self.lr = np.array([[lr_at(c, t) for c in self.configs] for t in range(steps)])
        self.lr_dev = torch.tensor(self.lr, dtype=torch.float32, device=dev)
        self.wd = torch.tensor([c.weight_decay for c in self.configs], device=dev)[:, None]
        self.threshold = torch.tensor([c.clip_threshold for c in self.configs], device=dev)
        self.opt_state: list[torch.Tensor] = []
        self.opt_steps = 0
        # recording, laid out per member so each member's Recorder gets a view of its own
        self.rows = recorded_steps(steps)
        self.row_of = {int(s): i for i, s in enumerate(self.rows)}
        self.snaps = snapshot_steps(steps) | {steps - 1}
        self.layer = torch.full((n, probes.N_STATS + 1, len(self.rows), cfg.depth), math.nan,
                                device=dev)
        self.n_rows = 0
        self.loss: list[torch.Tensor] = []  # (members,) per step
        self.gnorm: list[torch.Tensor] = []
        self.applied: list[torch.Tensor] = []
        self.clipped: list[torch.Tensor] = []
        self.hist_steps: list[int] = []
        self.hist_act: list[torch.Tensor] = []  # (depth, members, bins) per snapshot
        self.hist_grad: list[torch.Tensor] = []
        self.act_edges: torch.Tensor | None = None  # (members, bins + 1)
        self.grad_edges = torch.linspace(*probes.GRAD_LOG_RANGE, probes.HIST_BINS + 1)
        self.val_steps: list[int] = []
        self.val: list[torch.Tensor] = []  # (members, 4) per evaluation, as Recorder.val
        sqrt_numel = torch.tensor([math.prod(shapes[h]) ** 0.5 for h in hidden], device=dev)
        self.sqrt_numel = sqrt_numel[:, None].expand(cfg.depth, n).reshape(-1)

    # ---------------------------------------------------------------- model
    def _forward(self, x: torch.Tensor, params: dict[str, torch.Tensor], training: bool,
                 taps: list[torch.Tensor] | None) -> torch.Tensor:
        """Logits (members, batch, classes) for inputs (members, batch, features)."""
        cfg = self.cfg
        h = x
        for i in range(cfg.depth):
            block = f"blocks.{i}"
            z = torch.baddbmm(params[f"{block}.layer.bias"].unsqueeze(1), h,
                              params[f"{block}.layer.weight"])
            if cfg.batchnorm == "before":
                z = self._batchnorm(z, "bn_before", i, params, training)
            a = self.act(z)
            if taps is not None:
                taps.append(a)
            if cfg.batchnorm == "after":
                a = self._batchnorm(a, "bn_after", i, params, training)
            if cfg.dropout > 0:
                a = F.dropout(a, cfg.dropout, training=training)
            h = h + a if cfg.residual and i > 0 else a
        return torch.baddbmm(params["head.bias"].unsqueeze(1), h,
                             params["head.weight"])

    def _batchnorm(self, z: torch.Tensor, place: str, i: int, params: dict[str, torch.Tensor],
                   training: bool) -> torch.Tensor:
        """BatchNorm of each member over its own batch: members x units channels at once."""
        n, batch, units = z.shape
        mean, var = self.running[f"{place}.{i}"]
        out = F.batch_norm(z.transpose(0, 1).reshape(batch, n * units), mean, var,
                           params[f"blocks.{i}.{place}.weight"].reshape(-1),
                           params[f"blocks.{i}.{place}.bias"].reshape(-1),
                           training=training, momentum=BN_MOMENTUM, eps=BN_EPS)
        return out.view(batch, n, units).transpose(0, 1)

    # ---------------------------------------------------------------- training
    def _loop(self) -> int:
        """Run every step; return how many were done (fewer when every member diverged)."""
        steps = self.cfg.steps
        eval_every = max(1, steps // N_EVALS)
        checked, done = 0, 0
        for t in range(steps):
            if t % eval_every == 0:  # after t updates, as lab.train
                self._evaluate(t)
            self._step(t)
            done = t + 1
            if done - checked >= CHECK_EVERY:
                checked = done
                if bool(self._first_nonfinite(done).ge(0).all()):
                    break
        self._evaluate(done)  # the final weights (members that diverged before leave it out)
        return done

    def _step(self, t: int) -> None:
        """One forward/backward of every member, recording, clipping and optimizer step."""
        cfg, n = self.cfg, self.n
        idx = self.index[t]
        x, y = self.x_train[idx], self.y_train[idx]
        taps: list[torch.Tensor] = []
        logits = self._forward(x, self.params, True, taps)
        if cfg.batchnorm != "none":
            self.bn_updates += 1
        batch = y.shape[1]
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        losses = losses.view(n, batch).mean(dim=1)
        # members are independent, so d(sum)/d(member's tensors) = d(member's loss)/d(them)
        grads = torch.autograd.grad(losses.sum(), self.param_list + taps)
        k = len(self.param_list)
        g = torch.cat([p.view(n, -1) for p in grads[:k]], dim=1)  # (members, P), flat's layout
        a_grads = list(grads[k:])
        row = self.row_of.get(t)
        with torch.no_grad():
            total = torch.linalg.vector_norm(g, dim=1)  # (members,)
            self.loss.append(losses.detach())
            self.gnorm.append(total)
            if row is not None:  # before clipping: the per-layer norms are of the raw gradient
                self._layer_row(row, taps, a_grads, g)
            self._clip(g, total)
            if t in self.snaps:
                self._histogram(t, taps, a_grads)
            before = self.flat[:, :self.hidden_end].clone() if row is not None else None
            self._optimize(g, t)
            if before is not None:
                self.layer[:, probes.N_STATS, row] = self._update_ratio(before)

    def _clip(self, g: torch.Tensor, total: torch.Tensor) -> None:
        """Clip each member's gradient in place and record the applied norm (as lab.train)."""
        cfg, thr = self.cfg, self.threshold
        if cfg.clip == "norm":
            coef = (thr / (total + 1e-6)).clamp_(max=1.0)
            g.mul_(coef[:, None])
            self.applied.append(total * coef)
            self.clipped.append(total > thr)
        elif cfg.clip == "value":
            peak = g.abs().amax(dim=1)
            torch.clamp(g, -thr[:, None], thr[:, None], out=g)
            self.applied.append(torch.linalg.vector_norm(g, dim=1))
            self.clipped.append(peak > thr)

    def _optimize(self, g: torch.Tensor, t: int) -> None:
        """SGD, momentum, Adam or RMSprop on the flat parameters, as torch.optim does, per-member
        lr."""
        cfg, p = self.cfg, self.flat
        lr = self.lr_dev[t][:, None]
        if any(c.weight_decay for c in self.configs):
            g = g.add(p * self.wd)
        self.opt_steps += 1
        if cfg.optimizer == "adam":
            if not self.opt_state:
                self.opt_state = [torch.zeros_like(p), torch.zeros_like(p)]
            avg, avg_sq = self.opt_state
            (beta1, beta2), k = ADAM_BETAS, self.opt_steps
            avg.lerp_(g, 1 - beta1)
            avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (avg_sq.sqrt() / math.sqrt(1 - beta2 ** k)).add_(ADAM_EPS)
            p.sub_(avg.div(denom).mul_(lr / (1 - beta1 ** k)))
        elif cfg.optimizer == "rmsprop":
            if not self.opt_state:
                self.opt_state = [torch.zeros_like(p)]
            avg_sq = self.opt_state[0]
            avg_sq.mul_(RMSPROP_ALPHA).addcmul_(g, g, value=1 - RMSPROP_ALPHA)
            p.sub_(g.div(avg_sq.sqrt().add_(RMSPROP_EPS)).mul_(lr))
        elif cfg.optimizer == "momentum":
            if not self.opt_state:
                self.opt_state = [g.clone()]
            else:
                self.opt_state[0].mul_(MOMENTUM).add_(g)
            p.sub_(self.opt_state[0] * lr)
        else:
            p.sub_(g * lr)

    @torch.no_grad()
    def _evaluate(self, step: int) -> None:
        """Validation and training-subset loss and accuracy of every member in eval mode."""
        x_val, y_val, x_fit, y_fit = self.eval_sets
        out = []
        for x, y in ((x_val, y_val), (x_fit, y_fit)):
            logits = self._forward(x, self.params, False, None)  # (members, examples, classes)
            n, k = y.shape
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
            out += [loss.view(n, k).mean(dim=1), (logits.argmax(dim=2) == y).float().mean(dim=1)]
        self.val.append(torch.stack(out, dim=1))  # (members, 4)
        self.val_steps.append(step)

    # ---------------------------------------------------------------- recording
    def _layer_row(self, row: int, taps: list[torch.Tensor], a_grads: list[torch.Tensor],
                   g: torch.Tensor) -> None:
        """Per-layer statistics of every member, into row `row`."""
        depth, n = self.cfg.depth, self.n
        w_norms = torch.stack([torch.linalg.vector_norm(g[:, a:b], dim=1)
                               for a, b, _ in list(self.slices.values())[:depth]])
        # rows of (depth * members): layer-major, member-minor
        acts, grads = torch.stack(taps).flatten(0, 1), torch.stack(a_grads).flatten(0, 1)
        stats = probes.row_stats(acts, grads, w_norms.reshape(-1), self.sqrt_numel,
                                 self.cfg.activation)
        self.layer[:, :probes.N_STATS, row] = stats.view(probes.N_STATS, depth, n).permute(2, 0, 1)
        self.n_rows = row + 1

    def _update_ratio(self, before: torch.Tensor) -> torch.Tensor:
        """(members, depth) log10(std(update) / std(W)) of each hidden weight."""
        after, n = self.flat[:, :self.hidden_end], self.n
        delta = after - before
        out = []
        for a, b, count in self.hidden_groups:  # equal-size layers are one op
            rows = (delta[:, a:b].reshape(n * count, -1), before[:, a:b].reshape(n * count, -1))
            ratio = probes.mean_std(rows[0])[1] / probes.mean_std(rows[1])[1]
            out.append(ratio.view(n, count))
        return torch.log10(torch.cat(out, dim=1))

    def _histogram(self, step: int, taps: list[torch.Tensor], a_grads: list[torch.Tensor]) -> None:
        """Activation and log10 |dL/da| histograms of every layer of every member."""
        depth, n, bins = self.cfg.depth, self.n, probes.HIST_BINS
        if self.act_edges is None:  # each member's own, from its step-0 statistics
            self.act_edges = torch.stack([
                probes.activation_edges(self.cfg.activation, self.layer[m, 1, 0],
                                        self.layer[m, 0, 0]) for m in range(n)]).to(self.device)
        acts = torch.stack(taps).flatten(0, 1)  # (depth * members, batch, units)
        act_h = probes.histograms(acts, self.act_edges.repeat(depth, 1))
        grads = torch.stack(a_grads).flatten(0, 1).flatten(1).abs_()
        grad_h = probes.histograms(torch.log10(grads.clamp_min_(1e-30)), self.grad_edges)
        self.hist_steps.append(step)
        self.hist_act.append(act_h.view(depth, n, bins))
        self.hist_grad.append(grad_h.view(depth, n, bins))

    def _first_nonfinite(self, stop: int) -> torch.Tensor:
        """(members,) first step < stop with a non-finite loss or gradient norm, else -1."""
        bad = ~(torch.isfinite(torch.stack(self.loss[:stop]))
                & torch.isfinite(torch.stack(self.gnorm[:stop])))  # (steps, members)
        steps = torch.arange(stop, device=bad.device)[:, None].expand_as(bad)
        first = torch.where(bad, steps, stop).amin(dim=0)
        return torch.where(first < stop, first, -1)

    def _runs(self, done: int) -> list[Run]:
        """One Run per member, cut where that member diverged, with weights and predictions."""
        seconds = time.perf_counter() - self.t0
        first_bad = self._first_nonfinite(done).tolist()
        final_loss = self.val[-1][:, 0].tolist()  # the final weights' validation loss
        loss = torch.stack(self.loss[:done]).unbind(1)
        gnorm = torch.stack(self.gnorm[:done]).unbind(1)
        clipping = self.cfg.clip != "none"
        applied = torch.stack(self.applied[:done]).unbind(1) if clipping else None
        clipped = torch.stack(self.clipped[:done]).float().unbind(1) if clipping else None
        val = torch.stack(self.val)  # (evaluations, members, 2)
        runs = []
        for m, cfg in enumerate(self.configs):
            rec = Recorder(cfg, self.device, cfg.steps)
            rec.layer, rec.n_rows = self.layer[m], self.n_rows
            rec.loss, rec.gnorm = list(loss[m].unbind()), list(gnorm[m].unbind())
            if clipping:
                rec.applied, rec.clipped = list(applied[m].unbind()), list(clipped[m].unbind())
            rec.lr = self.lr[:, m].copy()
            rec.hist_steps = list(self.hist_steps)
            rec.hist_act = [h[:, m] for h in self.hist_act]
            rec.hist_grad = [h[:, m] for h in self.hist_grad]
            rec.act_edges = self.act_edges[m] if self.act_edges is not None else None
            rec.val_steps, rec.val = list(self.val_steps), val[:, m]
            diverged = first_bad[m] if first_bad[m] >= 0 else None
            n_steps = diverged + 1 if diverged is not None else done
            if diverged is None and not math.isfinite(final_loss[m]):
                diverged = done  # the last update blew the weights up (as lab.train says)
            run = rec.to_run(n_steps, device_name(self.device), seconds, diverged_at=diverged,
                             stopped_early_at=None, cancelled=False, finished=True)
            net = self._member_net(m)
            run.model_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            run.extra.update(predictions(net, self.datas[m], cfg, torch.device("cpu")))
            run.extra["batch_members"] = self.n
            runs.append(run)
        return runs

    @torch.no_grad()
    def _member_net(self, m: int) -> torch.nn.Module:
        """Member m's trained network as a CPU nn.Module (weights and BatchNorm statistics)."""
        net = self.nets[m]
        params = dict(net.named_parameters())
        row = self.flat[m].cpu()
        for name, (a, b, shape) in self.slices.items():
            value = row[a:b].view(shape)
            params[name].copy_(value.t() if name in self.transposed else value)
        width = self.cfg.width
        for key, (mean, var) in self.running.items():
            place, i = key.split(".")
            bn = getattr(net.blocks[int(i)], place)
            bn.running_mean.copy_(mean[m * width:(m + 1) * width].cpu())
            bn.running_var.copy_(var[m * width:(m + 1) * width].cpu())
            bn.num_batches_tracked.fill_(self.bn_updates)
        return net
