"""Command line: `python -m lab run | sweep | presets | warm` (figures without a notebook)."""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import fields
from typing import Any

from lab import fields as rules
from lab.config import Config
from lab.data import MissingDataError

GIF_FRAMES = 40  # frames kept for an animation, evenly spaced over training


def _field_help(name: str) -> str:
    """A flag's help: what the field means and what it allows (argparse formats it with %)."""
    return f"{rules.RULES[name].help}; {rules.describe(name)}".replace("%", "%%")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("config fields (defaults: lab.Config())")
    for f in fields(Config):
        flag = f"--{f.name.replace('_', '-')}"
        names = [flag] if "_" not in f.name else [flag, f"--{f.name}"]
        group.add_argument(*names, dest=f"cfg_{f.name}", metavar="VALUE",
                           help=_field_help(f.name))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one config, write the dashboard PNG (and a GIF)")
    run.add_argument("--preset", help="start from a named preset (see: python -m lab presets)")
    run.add_argument("--out", required=True, help="PNG file to write")
    run.add_argument("--gif", help="also write an animated GIF of the training (always trains)")
    run.add_argument("--no-cache", action="store_true",
                     help="train even if the result cache (LAB_CACHE_DIR) holds this run")
    _add_config_flags(run)
    sw = sub.add_parser("sweep", help="train every combination of varied fields, plot them")
    sw.add_argument("--vary", action="append", required=True, metavar="FIELD=V1,V2,...",
                    help="a field and its values; repeat for more fields")
    sw.add_argument("--preset", help="start from a named preset")
    sw.add_argument("--out", required=True, help="PNG file to write")
    sw.add_argument("--sequential", action="store_true",
                    help="train each combination alone, exactly as lab.train (default: "
                         "same-architecture combinations train batched, equal up to rounding)")
    _add_config_flags(sw)
    sub.add_parser("presets", help="list the presets with their lessons")
    sub.add_parser("warm", help="train the default config and every preset into the result "
                   "cache (LAB_CACHE_DIR), so that the dashboard shows them at once")
    return parser


def _base_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Config:
    """The preset (or default) config with every --field flag applied; bad input exits 2."""
    try:
        base = Config()
        if args.preset:
            from lab import presets

            base = presets.get(args.preset).config
        changes = {}
        for f in fields(Config):
            text = getattr(args, f"cfg_{f.name}")
            if text is not None:
                try:  # each flag on its own first, so that the message names the flag
                    changes[f.name] = rules.check(f.name, rules.parse_text(f.name, text))
                except ValueError as e:
                    raise ValueError(f"--{f.name.replace('_', '-')}: {e}") from None
        return base.replace(**changes)
    except ValueError as e:
        parser.error(str(e))  # exits with status 2
    raise AssertionError("unreachable")


def _parse_vary(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, list[Any]]:
    names = [f.name for f in fields(Config)]
    vary: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names or not values:
            parser.error(f"--vary {item!r}: expected FIELD=V1,V2,... with FIELD one of "
                         f"{', '.join(names)}")
        if name in vary:
            parser.error(f"--vary {name} is given twice")
        try:
            vary[name] = [rules.parse_text(name, v.strip()) for v in values.split(",")]
        except ValueError as e:
            parser.error(f"--vary {name}: {e}")
    return vary


def _summary(run) -> str:
    from lab.diagnosis import diagnose

    cfg = run.config
    lines = [f"config: {cfg.to_query() or '(defaults)'}", run.summary(),
             f"verdict: {diagnose(run).text}"]
    if run.from_cache:
        lines.insert(1, "from the result cache (--no-cache trains it again)")
    if len(run.val_loss):
        i = run.final_eval  # the evaluation of the weights shown (the best ones if restored)
        lines.append(f"last batch's train loss {run.loss[-1]:.4g}; model at step "
                     f"{run.val_steps[i]}: val loss {run.val_loss[i]:.4g}, train loss "
                     f"{run.train_eval_loss[i]:.4g} (eval mode)")
    return "\n".join(lines)


def cmd_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Train, write the figure (and GIF), print a summary."""
    from lab.cache import train_cached
    from lab.plots import DashboardFigure

    cfg = _base_config(parser, args)
    figure = DashboardFigure()
    frames = []

    def on_frame(partial) -> None:
        if args.gif:
            frames.append(partial)
        _progress(partial.steps_done, cfg.steps, "training")

    if args.gif:  # a cached run has no frames to animate
        from lab.trainer import train

        run = train(cfg, on_frame=on_frame, frame_every=max(1, cfg.steps // GIF_FRAMES))
    else:
        run = train_cached(cfg, on_frame=on_frame, cache=None if args.no_cache else "env")
    sys.stderr.write("\n")
    figure.update(run)
    figure.save(args.out)
    if args.gif:
        _write_gif(figure, frames, args.gif)
    print(_summary(run))
    print(f"wrote {args.out}" + (f" and {args.gif}" if args.gif else ""))
    return 0


def _write_gif(figure, frames: list, path: str) -> None:
    from PIL import Image

    images = []
    for i, frame in enumerate(frames):
        figure.update(frame)
        images.append(Image.open(io.BytesIO(figure.png())).convert("P", palette=Image.ADAPTIVE))
        _progress(i + 1, len(frames), "rendering GIF")
    sys.stderr.write("\n")
    durations = [150] * (len(images) - 1) + [2000]  # linger on the final frame
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


def cmd_sweep(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Train every combination, plot, print one line per combination."""
    from lab.sweep import sweep
    from lab.sweep_figure import figure_png, sweep_figure

    base = _base_config(parser, args)
    vary = _parse_vary(parser, args.vary)
    try:
        points = sweep(base, vary, progress=lambda i, n, v: _progress(i, n, _values(v)),
                       batched=not args.sequential)
    except ValueError as e:  # a combination that Config rejects
        parser.error(str(e))
    sys.stderr.write("\n")
    with open(args.out, "wb") as f:
        f.write(figure_png(sweep_figure(points, vary)))
    for p in points:
        state = p.run.status()
        fit = p.run.train_acc[p.run.final_eval] if len(p.run.train_acc) else float("nan")
        print(f"{_values(p.values):40s} layer1/last {p.ratio_init:9.2g} -> {p.ratio_end:9.2g}"
              f"  val acc {p.val_acc:6.1%}  train acc {fit:6.1%}  {state}")
    print(f"wrote {args.out}")
    return 0


def cmd_warm() -> int:
    """Train the default config and every preset into the result cache; print what it did."""
    import time

    from lab import presets
    from lab.cache import CACHE_DIR_ENV, default_cache, train_cached

    cache = default_cache()
    if cache is None:
        print(f"the result cache is off ({CACHE_DIR_ENV} is empty): nothing to warm")
        return 0
    todo = [("(defaults)", Config())]
    todo += [(name, p.config) for name, p in presets.PRESETS.items()]
    hits = 0
    for i, (name, cfg) in enumerate(todo, 1):
        t0 = time.perf_counter()
        run = train_cached(cfg, cache=cache)
        hits += run.from_cache
        how = "from cache" if run.from_cache else f"trained in {time.perf_counter() - t0:.1f} s"
        print(f"[{i:2d}/{len(todo)}] {name:28s} {how}", flush=True)
    print(f"{len(todo)} runs: {hits} from cache, {len(todo) - hits} trained; "
          f"cache {cache.describe()}")
    return 0


def cmd_presets() -> int:
    """Print each preset's name and lesson."""
    from lab import presets

    for name, preset in presets.PRESETS.items():
        print(f"{name:28s} {preset.lesson}")
    return 0


def _values(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def _progress(done: int, total: int, what: str) -> None:
    if not sys.stderr.isatty() and done < total:  # logs get the finished bar only
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} {what[:50]:50s}")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (2 for bad flags or values)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(parser, args)
        if args.command == "sweep":
            return cmd_sweep(parser, args)
        if args.command == "warm":
            return cmd_warm()
        return cmd_presets()
    except MissingDataError as e:  # e.g. --dataset mnist without its files: said, no traceback
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    raise AssertionError("unreachable")
