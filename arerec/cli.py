"""``python -m arerec``: the original scripts' commands and flags, and the reports.

=================  ===========================================================
``prepare``        ``python dataset.py ...`` (also ``dataset``); ``--show_details VERSION``
``details``        ``python dataset.py --show_details VERSION``
``train``          ``python run.py ...`` (also ``run``)
``evaluate``       ``python run.py --do_train 0 ...``
``resume``         ``python run.py --load_model 1 --model_name NAME --load_weight_path cp-0002.ckpt``
``download``       fetch a known dataset into ``{data_path}/{dataset}/{dataset}_ratings.csv``
``score``          score a predictions CSV with the paper's metric and standard ones
``compare``        runs over seeds and update modes, mean ± 95% CI per variant
``bench``          time the update modes
``report``         ``run``, ``check``, ``data``, ``params``, ``index``, ``optimum``: the notebooks into ``reports/``
=================  ===========================================================

Every flag of a configuration setting is a key of :class:`arerec.config.Config` (and, for ``compare``, of the
execution group), spelt as the original spells it (``--use_attention 1``, ``--topk "[3,5,7,10]"``). ``--params``
means the same for every command (:func:`arerec.report.parameters.params_files`): a tier's name expands to its
layers (``base``: ``params/base.yaml`` and ``params/ablation.yaml``; ``ci``: those, then ``params/ci.yaml``), a YAML
path is that one file; the flags given on the command line come last.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, get_args, get_origin

from arerec.errors import ArerecError

ALIASES = {"dataset": "prepare", "run": "train"}
SETTING = "setting:"  # the dest prefix of a configuration flag: what the command line sets, and nothing else
LIST_ELEMENT_TYPES = {"topk": int}  # list settings not named here hold floats (dropout, regularizer)
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
        for item in _list_items(token):
            number = _list_element(item, element)
            if number is None:
                kind = "an integer" if element is int else "a number"
                raise ValueError(f"received: {token!r} ({item!r} is not {kind})")
            values.append(number)
    return values


def _list_items(token: str) -> list:
    text = token.strip()
    if text.startswith(("[", "(")):
        try:
            parsed = ast.literal_eval(text)
        except _LITERAL_ERRORS:
            raise ValueError(f"received: {token!r} (not a list literal)") from None
        if not isinstance(parsed, (list, tuple)):
            raise ValueError(f"received: {token!r} (not a list literal)")
        items = list(parsed)
    else:
        items = [piece for piece in re.split(r"[,\s]+", text) if piece]
    if not items:
        raise ValueError(f"received: {token!r} (no values)")
    return items


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
    """A list setting: ``--topk 3 5 7 10``, ``--topk "[3,5,7,10]"`` or ``--topk 3,5,7,10``."""

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


# --------------------------------------------------------------------------------------------
# Flags from the configuration's groups
# --------------------------------------------------------------------------------------------
def add_setting_flags(parser: argparse.ArgumentParser, groups: Sequence[str]) -> None:
    """A flag per key of ``groups`` of :class:`~arerec.report.parameters.Parameters` that a command line can hold
    (a mapping, such as an ablation grid, cannot): ``--KEY``, its meaning and default in the help. A number is read
    as its field's type (argparse names a malformed one); the configuration checks every value (``--use_attention
    1``: a switch takes 1 or 0, or true or false)."""
    from arerec.config import Slots
    from arerec.report.parameters import Parameters

    defaults, help_ = Parameters().to_dict(), Parameters.field_help()
    for group in groups:
        fields = Parameters.group_class(group).model_fields
        for key in Parameters.group_keys(group):
            annotation = fields[key].annotation
            kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": SETTING + key, "metavar": key.upper(),
                                      "help": f"{help_[key]} (default: {defaults[key]})"}
            if isinstance(annotation, type) and issubclass(annotation, Slots) or get_origin(annotation) is list:
                element = LIST_ELEMENT_TYPES.get(key, float)
                if get_args(annotation) and get_args(annotation)[0] is str:
                    continue
                kwargs.update(action=_ListFlag, element=element, metavar="VALUE")
            elif get_origin(annotation) is dict:
                continue
            elif annotation in (int, float):
                kwargs["type"] = annotation
            parser.add_argument(f"--{key}", **kwargs)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gave, by key."""
    return {key.removeprefix(SETTING): value for key, value in vars(args).items() if key.startswith(SETTING)}


def parameters_from(args: argparse.Namespace):
    """The parameters of ``--params`` (none: the defaults), then the settings the command line gave."""
    from arerec.report.parameters import load

    names = [name for value in getattr(args, "params", None) or [] for name in value.split(",") if name.strip()]
    return load(names, root=".", overrides=settings_from(args)) if names else _defaults_with(settings_from(args))


def _defaults_with(settings: dict[str, Any]):
    from arerec.report.parameters import Parameters

    return Parameters.from_dict(settings, source="the command line")


def config_from(args: argparse.Namespace):
    """The run's :class:`~arerec.config.Config` of ``args``."""
    return parameters_from(args).config


# --------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------
def _print_details(cfg, version: str) -> None:
    from arerec.data.prepare import details, format_details, load_prepared

    prepared = load_prepared(cfg.data.data_path, cfg.data.dataset, version)
    print(format_details(version, details(prepared)))


def cmd_details(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    _print_details(cfg, getattr(args, "show_details", None) or getattr(args, "version", None)
                   or cfg.data.resolved_data_version)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    if args.show_details:
        return cmd_details(args)
    from arerec.data.datasets import ensure_ratings
    from arerec.data.prepare import prepare

    cfg = config_from(args)
    ensure_ratings(cfg)
    report = prepare(cfg)
    print(f"kept {report.rows_kept} of {report.rows_in} ratings; {report.users_below_min_seq_after_item_filter} "
          f"users fell below min_seq after the item filter (single pass, as the reference)")
    _print_details(cfg, report.version)
    for key, path in report.paths.items():
        print(f"{key}: {path}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from arerec.data.datasets import ensure_ratings

    print(ensure_ratings(config_from(args)))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``train``, ``evaluate`` (``do_train`` 0) and ``resume`` (``load_model`` 1)."""
    from arerec.train.loop import train

    cfg = config_from(args)
    cfg = cfg.replace(**args.forced) if args.forced else cfg
    result = train(cfg)
    print(f"model: {result.name}")
    print(f"run folder: {result.paths.root}")
    print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in result.final.items()}, indent=2))
    return 0


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


def cmd_score(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    print(json.dumps(score_file(args.predictions, cfg.evaluation.topk, cfg.evaluation.hrcutoff), indent=2))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from arerec.evaluate.stats import format_mean_ci
    from arerec.sweeps.executors import from_extras, train_runs
    from arerec.sweeps.seeds import run_seeds, summarise, sweep

    params = parameters_from(args)
    cfg = params.config
    modes = args.update_modes or [cfg.training.update_mode]
    variants = {mode: {"update_mode": mode, **({"second_moment": "elementwise"} if mode == "dense" else {})}
                for mode in modes}  # row-wise second moments exist for lazy updates only
    train_runs([run_cfg for _, _, run_cfg in sweep(cfg, args.seeds, variants)], from_extras(params.extras))
    table = summarise(run_seeds(cfg, args.seeds, variants, out=args.out))
    for _, row in table.iterrows():
        cells = [f"{m} {format_mean_ci(row[m], row[m + '_ci'])}" for m in table.columns
                 if m not in ("variant", "n") and not m.endswith("_ci")]
        print(f"{row['variant']} (n={row['n']}): " + ", ".join(cells))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from arerec.bench.update_modes import run_bench

    record = run_bench(config_from(args), data=args.bench_data, modes=args.modes, warmup=args.warmup,
                       repeats=args.repeats, steps=args.steps, epoch=args.epoch, name=args.name or args.bench_data,
                       out=Path(args.out))
    print(json.dumps({"ratios": record["ratios"], "wall_s": round(record["wall_s"], 1),
                      **{m: {k: v for k, v in r.items() if not k.endswith("runs_s")}
                         for m, r in record["modes"].items()}}, indent=2))
    return 0


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------
RUN_GROUPS = ("data", "model", "training", "evaluation", "devices")
COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int], tuple[str, ...]]] = {
    # name: (help, function, the configuration groups whose keys are flags)
    "prepare": ("build the train/test/item-sequence .id files (the reference dataset.py)", cmd_prepare, RUN_GROUPS),
    "details": ("print the statistics of a prepared data version (dataset.py --show_details)", cmd_details,
                RUN_GROUPS),
    "train": ("train and evaluate a model (the reference run.py)", cmd_train, RUN_GROUPS),
    "evaluate": ("evaluate a saved checkpoint only (run.py --do_train 0)", cmd_train, RUN_GROUPS),
    "resume": ("continue training from a checkpoint (run.py --load_model 1)", cmd_train, RUN_GROUPS),
    "download": ("fetch a known dataset (ml-100k, ml-1m) or generate the synthetic one", cmd_download, RUN_GROUPS),
    "score": ("score a predictions CSV (user,item,rating,prediction) with the paper's and standard metrics",
              cmd_score, RUN_GROUPS),
    "compare": ("train (or re-use) runs over seeds and update modes; print mean ± 95%% CI per variant", cmd_compare,
                (*RUN_GROUPS, "execution")),
    "bench": ("time the training step, an epoch, evaluation and data preparation per update mode", cmd_bench,
              RUN_GROUPS),
}
FORCED = {"evaluate": {"do_train": 0}, "resume": {"load_model": 1}}  # what the command itself means


def _add_params_flag(parser: argparse.ArgumentParser, default: list[str] | None) -> None:
    parser.add_argument("--params", action="append", default=default, metavar="NAMES",
                        help="the layers, later winning: a tier's name expands to its layers (base: params/base.yaml "
                        "and params/ablation.yaml; ci: those, then params/ci.yaml), a YAML path or a later name "
                        "(ci,cluster) is one file; may be repeated" + (f" (default: {default[0]})" if default else ""))


def _add_command(sub, name: str) -> None:
    help_text, function, groups = COMMANDS[name]
    aliases = [a for a, target in ALIASES.items() if target == name]
    p = sub.add_parser(name, aliases=aliases, help=help_text, description=help_text)
    p.set_defaults(func=function, forced=FORCED.get(name, {}))
    _add_params_flag(p, None)
    p.add_argument("--log_level", default="INFO", help="logging level (default: INFO)")
    if name == "prepare":
        p.add_argument("--show_details", metavar="VERSION", default=None,
                       help="print the statistics of this prepared data version")
    if name == "details":
        p.add_argument("version", nargs="?", help="the data version, e.g. ml-100k_8020_minseq20_bs128_dper1.0")
    if name == "bench":
        from arerec.bench.update_modes import add_arguments

        add_arguments(p)
    if name == "compare":
        p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)")
        p.add_argument("--update_modes", nargs="+", default=None, choices=["dense", "lazy"],
                       help="compare these update modes (default: the configured one)")
        p.add_argument("--out", default=None, help="CSV of every run (rewritten after each)")
    if name == "score":
        p.add_argument("predictions", help="CSV with columns user,item,rating,prediction in test-file order")
    add_setting_flags(p, groups)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m arerec", description=__doc__.split("\n")[0])
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        _add_command(sub, name)
    add_report_commands(sub)
    return parser


def add_report_commands(sub) -> None:
    """``report run|check|data|params|index|optimum``: what ``make reproduce``, ``make check`` and ``make data``
    call (:mod:`arerec.report.runner`)."""
    from arerec.report import runner

    report = sub.add_parser("report", help="run the notebooks into reports/, check a rebuilt report, and more",
                            description="the notebooks headless into reports/ (arerec.report.runner)")
    report.set_defaults(func=None, report_parser=report)
    commands = report.add_subparsers(dest="report_command", metavar="COMMAND")
    for name, (text, function) in runner.COMMANDS.items():
        p = commands.add_parser(name, help=text, description=runner.description(name))
        p.set_defaults(func=function)
        p.add_argument("--reports_dir", default="reports", help="output folder, relative to --root (default: reports)")
        p.add_argument("--reports-dir", dest="reports_dir", help=argparse.SUPPRESS)  # the spelling before 0.2
        p.add_argument("--root", default=".", help="repository root holding notebooks/ and params/ (default: .)")
        if name in ("run", "data", "params"):
            _add_params_flag(p, None)
            p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one parameter")
        runner.add_arguments(name, p)


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func is None:  # no command, or `report` without one
        (getattr(args, "report_parser", None) or parser).print_help()
        return 0
    logging.basicConfig(level=getattr(logging, str(getattr(args, "log_level", "INFO")).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    """:func:`run`, with a bad input as one line on stderr (exit status 2) and an interruption as 130."""
    try:
        return run(argv)
    except ArerecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
