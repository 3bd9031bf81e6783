"""The ``polyclr`` command.

Every command validates its input first (bad input: one line naming the file, exit code 2, no
traceback, no output directory), then writes ``OUT/config.yaml``, ``OUT/metrics.json`` and
``OUT/environment.json`` and prints a short summary. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from polyclr import __version__
from polyclr.errors import DataError, PolyclrError

_STARTED = time.monotonic()  # this module is the first polyclr import of the command
_MODALITY_COMMANDS = ("pretrain", "finetune", "evaluate", "run", "check", "embed", "predict")


def _add_common(p: argparse.ArgumentParser, needs_out: bool = True) -> None:
    p.add_argument("modality", help="volume, timeseries or audio")
    p.add_argument("--data", required=True, type=Path, help="dataset file or directory")
    if needs_out:
        p.add_argument("--out", required=True, type=Path, help="output run directory")
    p.add_argument("--config", type=Path, default=None, help="YAML file overriding defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable), e.g. --set engine.max_epochs=5")
    p.add_argument("--devices", default=None, help="Lightning devices (auto, N, or ids)")
    p.add_argument("--num-nodes", type=int, default=None, help="nodes for multi-node DDP")
    p.add_argument("--accelerator", default=None, help="auto (default), cpu or gpu")
    p.add_argument("--strategy", default=None, help="Lightning strategy: auto (default), ddp, ...")
    p.add_argument("--precision", default=None, help="32-true (default), bf16-mixed, 16-mixed (GPU)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="polyclr",
        description="Domain-specific contrastive pre-training and label-efficient fine-tuning.",
    )
    parser.add_argument("--version", action="version", version=f"polyclr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="run every pipeline on embedded data (minutes on a CPU)")
    d.add_argument("--out", type=Path, default=Path("runs/demo"))
    d.add_argument("--only", action="append", default=None, help="restrict to a modality")

    c = sub.add_parser("check", help="validate a dataset without training")
    _add_common(c, needs_out=False)

    for name, text in (
        ("pretrain", "contrastive pre-training"),
        ("evaluate", "evaluate a checkpoint on the held-out split"),
        ("run", "pretrain -> fine-tune at standard label budgets -> report"),
    ):
        p = _add_common_parser(sub, name, text)
        if name in ("pretrain", "run"):
            p.add_argument("--resume", action="store_true",
                           help="continue a killed run in OUT: finished stages are skipped, the "
                                "interrupted one continues from its last checkpoint")
        if name == "evaluate":
            p.add_argument("--checkpoint", required=True, type=Path)

    f = _add_common_parser(sub, "finetune", "fine-tune with few labels")
    f.add_argument("--checkpoint", type=Path, default=None, help="pre-trained run dir or file (omit: random init)")
    f.add_argument("--label-fraction", type=float, default=None)
    f.add_argument("--labeled-volumes", type=int, default=None)

    e = _add_common_parser(sub, "embed", "embed files with a pre-trained encoder (.npy)")
    e.add_argument("--checkpoint", required=True, type=Path)

    pr = _add_common_parser(sub, "predict", "predictions of a fine-tuned model for new inputs")
    pr.add_argument("--checkpoint", required=True, type=Path)

    s = sub.add_parser("select", help="redundancy-reducing dataset selection")
    s.add_argument("--data", required=True, type=Path)
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--modality", default=None, help="volume, timeseries or audio (default: guess)")
    s.add_argument("--method", default="dhash", help="dhash, ahash, phash, ssim, embedding, entropy, every_n")
    s.add_argument("--threshold", type=float, default=None)
    s.add_argument("--every-n", type=int, default=None)
    s.add_argument("--scope", default="group", choices=["group", "global"])
    s.add_argument("--checkpoint", type=Path, default=None, help="encoder for --method embedding")
    s.add_argument("--plot", action="store_true", help="write kept-vs-dropped strip plots")

    x = sub.add_parser("export", help="export a pre-trained encoder as safetensors + model card")
    x.add_argument("--checkpoint", required=True, type=Path)
    x.add_argument("--out", required=True, type=Path)
    return parser


def _add_common_parser(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=text)
    _add_common(p)
    return p


def _engine_sets(args: argparse.Namespace) -> list[str]:
    sets = list(args.set)
    if getattr(args, "devices", None) is not None:
        sets.append(f"engine.devices={args.devices}")
    if getattr(args, "num_nodes", None) is not None:
        sets.append(f"engine.num_nodes={args.num_nodes}")
    for key in ("accelerator", "strategy", "precision"):
        if getattr(args, key, None) is not None:
            sets.append(f"engine.{key}={getattr(args, key)}")
    return sets


def _prepare_out(out: Path) -> bool:
    """Create OUT; returns True if this call created it (so it can be removed on failure)."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "output path exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def _check_resume_config(out: Path, cfg: Any) -> None:
    """``--resume`` continues only the run OUT holds: a different configuration is refused,
    naming the keys that differ."""
    import yaml

    from polyclr.config import to_dict
    from polyclr.errors import ConfigError
    from polyclr.rundir import config_differences

    saved = out / "config.yaml"
    if not saved.is_file():
        return
    try:
        old = yaml.safe_load(saved.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(saved, f"unreadable config of the run to resume ({exc.__class__.__name__})") from exc
    diff = config_differences(old, to_dict(cfg))
    if diff:
        shown = ", ".join(diff[:12]) + (f" and {len(diff) - 12} more" if len(diff) > 12 else "")
        raise ConfigError(f"{saved}: --resume with a different configuration (differs in {shown}); "
                          "use the same settings or a new --out")


def _finish(out: Path, cfg: Any, metrics: dict[str, Any], seed: int | None) -> None:
    from polyclr.config import to_dict
    from polyclr.rundir import environment_record, write_json, write_yaml

    if cfg is not None:
        write_yaml(out / "config.yaml", to_dict(cfg))
    write_json(out / "environment.json", environment_record(seed))
    write_json(out / "metrics.json", metrics)


def _cmd_modality(args: argparse.Namespace) -> int:
    data: Path = args.data
    if not data.exists():  # before importing torch, Lightning, MONAI: a wrong path fails at once
        raise DataError(data, "no such file or directory")
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint is not None and not Path(checkpoint).exists():
        raise DataError(checkpoint, "checkpoint not found")
    from polyclr.config import resolve_config
    from polyclr.engine.dist import barrier, is_rank_zero
    from polyclr.engine.options import validate_engine
    from polyclr.engine.progress import note, set_quiet
    from polyclr.pipelines import get_pipeline

    set_quiet(getattr(args, "quiet", False))
    pipe = get_pipeline(args.modality)  # training code (Lightning) is imported when training starts
    cfg = resolve_config(pipe.config_class, args.config, _engine_sets(args))
    if getattr(cfg, "engine", None) is not None:
        validate_engine(cfg.engine)
    prepared = pipe.open(cfg, data)  # read and validated once; every step below reuses it
    if args.command == "check":
        report = pipe.check(cfg, prepared)
        for warning in report.warnings:
            print(f"warning: {warning}")
        print(f"{data}: OK ({args.modality}) " + ", ".join(f"{k}={v}" for k, v in report.summary.items()))
        return 0
    out: Path = args.out
    if getattr(args, "resume", False):
        _check_resume_config(out, cfg)
    if args.command in ("pretrain", "run"):  # the long ones: their first progress line, once the
        # input is validated (bad input gives the error line alone), before Lightning is imported
        note(f"{args.command} {args.modality}: read {data} ({time.monotonic() - _STARTED:.1f} s after start)")
    created = _prepare_out(out)
    if is_rank_zero():  # the resolved config first: a resumed run is checked against it
        from polyclr.config import to_dict
        from polyclr.rundir import write_yaml

        write_yaml(out / "config.yaml", to_dict(cfg))
    seed = getattr(getattr(cfg, "engine", None), "seed", None)
    t0 = time.perf_counter()
    try:
        if args.command == "pretrain":
            metrics = pipe.pretrain(cfg, prepared, out, resume=args.resume)
        elif args.command == "finetune":
            metrics = pipe.finetune(cfg, prepared, checkpoint, out, args.label_fraction, args.labeled_volumes)
        elif args.command == "evaluate":
            metrics = pipe.evaluate(cfg, prepared, checkpoint, out)
        elif args.command == "embed":
            metrics = pipe.embed(cfg, prepared, checkpoint, out)
        elif args.command == "predict":
            metrics = pipe.predict(cfg, prepared, checkpoint, out)
        else:
            metrics = pipe.run(cfg, prepared, out, resume=args.resume)
    except BaseException:
        if created and is_rank_zero() and not any(out.glob("**/checkpoints/*.ckpt")):
            shutil.rmtree(out, ignore_errors=True)
        raise
    metrics.setdefault("wall_seconds", round(time.perf_counter() - t0, 3))
    _finish(out, cfg, metrics, seed)  # files are written by rank zero only (polyclr.rundir)
    barrier()
    if is_rank_zero():
        print(f"{args.command} {args.modality}: {pipe.summary_line(metrics)}")
        print(f"wrote {out / 'metrics.json'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from polyclr.pipelines import available_pipelines, get_pipeline
    from polyclr.rundir import write_json

    names = args.only or available_pipelines()
    if not names:
        print("no modality pipelines are installed yet")
        return 0
    rows = []
    for name in names:
        pipe = get_pipeline(name)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        res = pipe.demo(out)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append((name, res))
        write_json(out / "metrics.json", res)
    print()
    print(f"{'modality':<12} {'metric':<16} {'pre-trained':>17} {'random init':>17} {'n':>3} {'seconds':>8}")
    for name, res in rows:
        pre = f"{res['pretrained']:.3f} ± {res.get('pretrained_std', float('nan')):.3f}"
        rnd = f"{res['random_init']:.3f} ± {res.get('random_init_std', float('nan')):.3f}"
        print(f"{name:<12} {res['metric']:<16} {pre:>17} {rnd:>17} {res.get('n', 1):>3} {res['seconds']:>8.1f}")
    print("(mean ± sample std over n runs; both columns: same head, budget and labels)")
    for name, res in rows:
        if res.get("note"):
            print(f"{name}: {res['note']}")
    write_json(args.out / "summary.json", {name: res for name, res in rows})
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    from polyclr.pipelines import selection_features, selection_items
    from polyclr.selection.cli import run_select

    return run_select(args, selection_items, selection_features)


def _cmd_export(args: argparse.Namespace) -> int:
    from polyclr.export import export_checkpoint

    result = export_checkpoint(args.checkpoint, args.out)
    print(f"exported encoder to {result['encoder']} with model card {result['model_card']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``polyclr`` console script; returns the exit code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "select":
            return _cmd_select(args)
        if args.command == "export":
            return _cmd_export(args)
        return _cmd_modality(args)
    except PolyclrError as exc:
        if args.debug:
            raise
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if args.debug:
            raise
        msg = " ".join(str(exc).split())[:300]
        print(f"error: internal error {type(exc).__name__}: {msg} (rerun with --debug)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
