"""``python -m arerec``: the original scripts' commands and flags.

=================  ===========================================================
``prepare``        ``python dataset.py ...`` (also ``dataset``); ``--show_details VERSION``
``details``        ``python dataset.py --show_details VERSION``
``train``          ``python run.py ...`` (also ``run``)
``evaluate``       ``python run.py --do_train 0 ...``
``resume``         ``python run.py --load_model 1 --model_name NAME --load_weight_path cp-0002.ckpt``
``download``       fetch a known dataset into ``{data_path}/{dataset}/{dataset}_ratings.csv``
=================  ===========================================================

Every flag is a field of :class:`arerec.config.Config`; ``--params FILE`` layers YAML files
first (later wins), then the flags given on the command line.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from arerec.config import Config, load_yaml_layers
from arerec.errors import ArerecError

COMMANDS = {
    "prepare": "build the train/test/item-sequence .id files (the reference dataset.py)",
    "details": "print the statistics of a prepared data version (dataset.py --show_details)",
    "train": "train and evaluate a model (the reference run.py)",
    "evaluate": "evaluate a saved checkpoint only (run.py --do_train 0)",
    "resume": "continue training from a checkpoint (run.py --load_model 1)",
    "download": "fetch a known dataset (ml-100k, ml-1m) or generate the synthetic one",
    "score": "score a predictions CSV (user,item,rating,prediction) with the paper's and standard metrics",
    "compare": "train (or re-use) runs over seeds and update modes; print mean ± 95%% CI per variant",
    "bench": "time the training step, an epoch, evaluation and data preparation per update mode",
}
ALIASES = {"dataset": "prepare", "run": "train"}
# compare: where its runs train (arerec.sweeps.executors), named as the notebooks' settings (report.parameters.EXTRAS)
COMPARE_EXECUTOR_FLAGS: dict[str, type] = {"executor": str, "workers": int, "ray_address": str, "ray_num_cpus": float,
                                           "ray_num_gpus": float}


LIST_ELEMENT_TYPES = {"topk": int}  # list fields not named here hold floats (dropout, regularizer)
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def parse_list_flag(tokens: Sequence[str], element: type) -> list:
    """The values of a list flag, in any of the forms the original's ``eval`` accepted and ours.

    Each token may be a Python list or tuple literal (``"[3,5,7,10]"``, ``"[0.0, 0.5]"``), read with
    :func:`ast.literal_eval`, never ``eval``, or numbers separated by commas or spaces
    (``"3,5,7,10"``); several tokens (``--topk 3 5 7 10``) are joined in order. ``element`` is
    ``int`` or ``float``.

    Raises:
        ValueError: naming the token that is not a list of ``element`` numbers, and why.
    """
    values: list = []
    for token in tokens:
        text = token.strip()
        if text.startswith(("[", "(")):
            try:
                parsed = ast.literal_eval(text)
            except _LITERAL_ERRORS:
                raise ValueError(f"received: {token!r} (not a list literal)") from None
            items = list(parsed) if isinstance(parsed, (list, tuple)) else None
            if items is None:
                raise ValueError(f"received: {token!r} (not a list literal)")
        else:
            items = [piece for piece in re.split(r"[,\s]+", text) if piece]
        if not items:
            raise ValueError(f"received: {token!r} (no values)")
        for item in items:
            number = _list_element(item, element)
            if number is None:
                kind = "an integer" if element is int else "a number"
                raise ValueError(f"received: {token!r} ({item!r} is not {kind})")
            values.append(number)
    return values


def _list_element(item: object, element: type) -> int | float | None:
    """``item`` (a number, or the text of one) as ``element``; None when it is not one."""
    if isinstance(item, str):
        try:
            item = ast.literal_eval(item.strip())
        except _LITERAL_ERRORS:
            return None
    if isinstance(item, bool) or not isinstance(item, (int, float)):
        return None
    if element is int:
        return int(item) if float(item).is_integer() else None
    return float(item)


class _ListFlag(argparse.Action):
    """A list field of Config: ``--topk 3 5 7 10``, ``--topk "[3,5,7,10]"`` or ``--topk 3,5,7,10``."""

    def __init__(self, option_strings: Sequence[str], dest: str, element: type = float, **kwargs) -> None:
        self.element = element
        super().__init__(option_strings, dest, nargs="+", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        tokens = [values] if isinstance(values, str) else [str(v) for v in values or []]  # nargs="+": a list
        try:
            parsed = parse_list_flag(tokens, self.element)
        except ValueError as exc:
            forms = ("'[3,5,7,10]', '3,5,7,10' or 3 5 7 10" if self.element is int
                     else "'[0.0, 0.5]', '0.0,0.5' or 0.0 0.5")
            kind = "integers" if self.element is int else "numbers"
            raise argparse.ArgumentError(self, f"expected a list of {kind} such as {forms}; {exc}") from None
        setattr(namespace, self.dest, parsed)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(Config):
        default = _field_default(f)
        kwargs: dict = {"default": argparse.SUPPRESS, "help": f"{f.metadata['help']} (default: {default})"}
        if isinstance(default, list):
            kwargs.update(action=_ListFlag, element=LIST_ELEMENT_TYPES.get(f.name, float), metavar="VALUE")
        else:
            kwargs["type"] = type(default)
        parser.add_argument(f"--{f.name}", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m arerec", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        aliases = [a for a, target in ALIASES.items() if target == name]
        p = sub.add_parser(name, aliases=aliases, help=help_text, description=help_text)
        p.add_argument("--params", action="append", default=[], metavar="FILE",
                       help="YAML file of parameters; may be repeated, later files win")
        p.add_argument("--log_level", default="INFO", help="logging level (default: INFO)")
        if name in ("prepare", "details"):
            p.add_argument("--show_details", metavar="VERSION", default=None if name == "prepare" else argparse.SUPPRESS,
                           help="print the statistics of this prepared data version")
        if name == "bench":
            from arerec.bench.update_modes import add_arguments

            add_arguments(p)
        if name == "compare":
            p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)")
            p.add_argument("--update_modes", nargs="+", default=None, choices=["dense", "lazy"],
                           help="compare these update modes (default: the configured one)")
            p.add_argument("--out", default=None, help="CSV of every run (rewritten after each)")
            from arerec.report.parameters import EXTRAS

            for extra, kind in COMPARE_EXECUTOR_FLAGS.items():  # as in params files; the flag wins over them
                p.add_argument(f"--{extra}", type=kind, default=None, help=f"{EXTRAS[extra].help} "
                               f"(default: the --params files', else {EXTRAS[extra].default!r})")
        if name == "score":
            p.add_argument("predictions", help="CSV with columns user,item,rating,prediction in test-file order")
        if name == "details":
            p.add_argument("version", nargs="?", help="the data version, e.g. ml-100k_8020_minseq20_bs128_dper1.0")
        _add_config_flags(p)
    return parser


def _config_from(args: argparse.Namespace) -> Config:
    skip = {"command", "params", "log_level", "show_details", "version", "predictions", "bench_data", "modes", "warmup",
            "repeats", "steps", "epoch", "name", "out", "seeds", "update_modes", *COMPARE_EXECUTOR_FLAGS}
    overrides = {k: v for k, v in vars(args).items() if k not in skip}
    from arerec.report.parameters import EXTRAS  # notebook-only settings a params file may hold

    return load_yaml_layers(args.params, overrides, ignore=EXTRAS)


def _details(cfg: Config, version: str) -> None:
    from arerec.data.prepare import details, format_details, load_prepared

    prepared = load_prepared(cfg.data_path, cfg.dataset, version)
    print(format_details(version, details(prepared)))


def score_file(path: str, topk: list[int], hrcutoff: float) -> dict:
    """Score a predictions CSV (user,item,rating,prediction) as the original's ``score`` does.

    Each user's rows are keyed by item, as in the original, so a repeated (user, item) pair counts
    once in the faithful metrics (see :func:`arerec.evaluate.metrics.score_predictions`); the warning about
    it is logged, and ``python -m arerec`` prints the log on stderr.
    """
    import pandas as pd

    from arerec.errors import DataError
    from arerec.evaluate.metrics import score_predictions

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"predictions file not found: {path}") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in ("user", "item", "rating", "prediction") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected user,item,rating,prediction")
    for column in ("user", "item"):
        if frame[column].isna().any():
            raise DataError(f"{path}: column {column!r} must have no gaps")
    for column in ("rating", "prediction"):
        if not pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().any():
            raise DataError(f"{path}: column {column!r} must be numbers with no gaps")
    return score_predictions(frame["user"].to_numpy(), frame["rating"].to_numpy(), frame["prediction"].to_numpy(),
                             topk, hrcutoff, items=frame["item"].to_numpy())


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = ALIASES.get(args.command, args.command)
    if command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    cfg = _config_from(args)

    if command == "details" or (command == "prepare" and args.show_details):
        _details(cfg, getattr(args, "show_details", None) or args.version or cfg.resolved_data_version)
        return 0
    if command == "download":
        from arerec.data.datasets import ensure_ratings

        print(ensure_ratings(cfg))
        return 0
    if command == "compare":
        from pathlib import Path

        from arerec.evaluate.stats import format_mean_ci
        from arerec.report.parameters import EXTRAS, merge_parameters
        from arerec.sweeps.executors import from_extras, train_runs
        from arerec.sweeps.seeds import run_seeds, summarise, sweep

        modes = args.update_modes or [cfg.update_mode]
        variants = {mode: {"update_mode": mode, **({"second_moment": "elementwise"} if mode == "dense" else {})}
                    for mode in modes}  # row-wise second moments exist for lazy updates only
        layered = merge_parameters([Path(p) for p in args.params])
        flags = {k: getattr(args, k) for k in COMPARE_EXECUTOR_FLAGS if getattr(args, k) is not None}
        executor = from_extras({k: EXTRAS[k].default for k in ("executor", "workers", "ray_address", "ray_num_cpus",
                                                               "ray_num_gpus")} | layered | flags)
        train_runs([run_cfg for _, _, run_cfg in sweep(cfg, args.seeds, variants)], executor)
        runs = run_seeds(cfg, args.seeds, variants, out=args.out)
        table = summarise(runs)
        for _, row in table.iterrows():
            cells = [f"{m} {format_mean_ci(row[m], row[m + '_ci'])}" for m in table.columns
                     if m not in ("variant", "n") and not m.endswith("_ci")]
            print(f"{row['variant']} (n={row['n']}): " + ", ".join(cells))
        return 0
    if command == "score":
        print(json.dumps(score_file(args.predictions, cfg.topk, cfg.hrcutoff), indent=2))
        return 0
    if command == "bench":
        from pathlib import Path

        from arerec.bench.update_modes import run_bench

        record = run_bench(cfg, data=args.bench_data, modes=args.modes, warmup=args.warmup, repeats=args.repeats,
                           steps=args.steps, epoch=args.epoch, name=args.name or args.bench_data,
                           out=Path(args.out))
        print(json.dumps({"ratios": record["ratios"], "wall_s": round(record["wall_s"], 1),
                          **{m: {k: v for k, v in r.items() if not k.endswith("runs_s")}
                             for m, r in record["modes"].items()}}, indent=2))
        return 0
    if command == "prepare":
        from arerec.data.datasets import ensure_ratings
        from arerec.data.prepare import prepare

        ensure_ratings(cfg)
        report = prepare(cfg)
        print(f"kept {report.rows_kept} of {report.rows_in} ratings; {report.users_below_min_seq_after_item_filter} "
              f"users fell below min_seq after the item filter (single pass, as the reference)")
        _details(cfg, report.version)
        for key, path in report.paths.items():
            print(f"{key}: {path}")
        return 0

    from arerec.train.loop import train

    if command == "evaluate":
        cfg = cfg.replace(do_train=0)
    elif command == "resume":
        cfg = cfg.replace(load_model=1)
    result = train(cfg)
    print(f"model: {result.name}")
    print(f"run folder: {result.paths.root}")
    print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in result.final.items()}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except ArerecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
