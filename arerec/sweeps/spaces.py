"""Search spaces: what each model's hyper-parameter search may vary, as Optuna distributions, checked before any
training.

A space maps a parameter to its range, as written in ``params/*.yaml`` (``validation_search.spaces``)::

    lr: {low: 0.00001, high: 0.03, log: true}      # FloatDistribution(1e-5, 0.03, log=True)
    region_size: {low: 1, high: 21, step: 2}       # IntDistribution(1, 21, step=2): 1, 3, ..., 21
    emb_size: {low: 8, high: 256, powers_of: 2}    # IntDistribution(3, 8) over log2: 8, 16, ..., 256
    num_head: {choices: [1, 2, 4, 8]}              # CategoricalDistribution

Each range becomes one of Optuna's distributions (:mod:`optuna.distributions`), which validate the numbers
(low <= high, low > 0 on a log scale, step > 0 and not with log); this module adds what they do not check: the
keys of the mapping, integer bounds for integer parameters, a step that divides the range, and an empty range.
A range of powers (``powers_of: 2``) is drawn as its exponent, an Optuna parameter named ``log2_<name>``: unlike a
categorical's choices, its bounds can be widened within a study (Optuna does not let a study change a categorical's
choices), and its draws are even on the log scale, as powers of two are.

Every model has its own parameters:

- ARERec (``arerec``, ``arerec_attention_off``): Config fields (``lr``, ``emb_size``, ``region_size``,
  ``num_head``, ``batch_size``, ``table_l2``) and four parameters that set groups of Config slots:
  ``dropout_emb`` (the user, neighbour and item embeddings), ``dropout_lcu`` (the two LCU lookups, where the
  reference puts its 0.5), ``dropout_hidden`` (the profiles and ratings after the region embedding) and
  ``l2_weights`` (L2 on q, k, v, concat and fc). A dropout or L2 group above 0 turns ``use_dropout`` or
  ``use_regularizer`` on.
- A rating baseline: its own hyper-parameters (:data:`arerec.evaluate.baselines.BASELINES`).

Sampled numbers are rounded to 3 significant digits before they reach a model, so that run names and tables
stay readable; a multiple of 1/256 (a dropout step) is kept exact (:func:`rounded`). :meth:`Dimension.edge`
says when a chosen value sits on an edge of its range: the optimum may lie outside it, and the range should be
widened. An edge that is a *natural bound* (:data:`NATURAL_BOUNDS`: dropout 0, one head, a region of one row,
min_support 1, shrinkage 0, an L2 rate of 1e-8 or less, which is effectively none) has nothing beyond it: it is
named as such, not flagged.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arerec.config import DROPOUT_SLOTS, REGULARIZER_SLOTS, Config, dropout_bits
from arerec.errors import ConfigError

# The ARERec models a search can tune, with what each fixes.
ARERECS: dict[str, dict[str, Any]] = {"arerec": {}, "arerec_attention_off": {"use_attention": 0}}

# ARERec's searchable parameters: name -> (type, meaning).
ARERE_SEARCH_PARAMS: dict[str, tuple[type, str]] = {
    "lr": (float, "learning rate"),
    "emb_size": (int, "embedding size d"),
    "region_size": (int, "rows R of each local context unit"),
    "num_head": (int, "attention heads H (emb_size must divide by it)"),
    "batch_size": (int, "rows per batch"),
    "dropout_emb": (float, "dropout on the user, neighbour and item embeddings"),
    "dropout_lcu": (float, "dropout on the two LCU lookups (K_UI, K_IU; the reference's 0.5)"),
    "dropout_hidden": (float, "dropout on the profiles and ratings after the region embedding"),
    "l2_weights": (float, "L2 on the attention and output weights (q, k, v, concat, fc)"),
    "table_l2": (float, "L2 on the embedding and LCU tables (lazy Adam: on the rows a batch gathered)"),
}
DROPOUT_GROUPS = {
    "dropout_emb": ("user_emb", "neighbour_emb", "item_emb"),
    "dropout_lcu": ("k_ui", "k_iu"),
    "dropout_hidden": ("neighbour_profile", "item_profile", "neighbour_rating", "user_rating_vector"),
}
EDGE_SHARE = 0.05  # a value in the outer 5% of its range (on its scale) sits on an edge
# Low edges with nothing below them: parameter -> (the bound: a range whose low is at or below it ends there, why).
NATURAL_BOUNDS: dict[str, tuple[float, str]] = {
    **{group: (0.0, "no dropout") for group in DROPOUT_GROUPS},
    "num_head": (1, "one head"),
    "region_size": (1, "a region of one row"),
    "min_support": (1, "one common rating"),
    "shrinkage": (0.0, "no shrinkage"),
    "l2_weights": (1e-8, "effectively no L2"),
    "table_l2": (1e-8, "effectively no L2"),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rounded(value: Any) -> Any:
    """A float to 3 significant digits, unless ``BitDropout`` draws it exactly (a multiple of 1/256:
    :func:`arerec.config.dropout_bits`); anything else as it is.

    The dropout ranges step by 1/16, and :class:`~arerec.model.layers.BitDropout` draws a rate of k / 2**n exactly
    from random bits. Rounded to 3 digits, half of those steps left the grid (0.1875 became 0.188) and fell back to
    one random float per element: a training step 3.2 times as long (docs/decisions.md 41)."""
    if not isinstance(value, float) or dropout_bits(value) is not None:
        return value
    return float(f"{value:.3g}")


def quiet_optuna():
    """Optuna, imported without the noise it would put on a report page: its INFO log lines, its experimental
    warnings, and tqdm's "IProgress not found" warning (Optuna imports ``tqdm.auto``, which in a Jupyter kernel
    without ipywidgets warns that it falls back to the plain bar; the kit shows no Optuna bar)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _distribution(where: str, kind: type, spec: Mapping[str, Any]):
    """The Optuna distribution of one parameter's ``spec``; ConfigError naming ``where`` for what is wrong."""
    distributions = quiet_optuna().distributions
    CategoricalDistribution, FloatDistribution, IntDistribution = (
        distributions.CategoricalDistribution, distributions.FloatDistribution, distributions.IntDistribution)

    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise ConfigError(f"{where}: choices cannot be combined with low/high/log/step")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: choices must be a non-empty list (an empty range), received: {choices!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}: choices repeat a value: {choices!r}")
        return CategoricalDistribution(choices)
    if kind is str:
        raise ConfigError(f"{where} takes names, so it needs choices: [...], received: {dict(spec)!r}")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where} needs both low and high (or choices), received: {dict(spec)!r}")
    if "powers_of" in spec:
        return _powers(where, kind, spec, IntDistribution)
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if not (_is_number(low) and _is_number(high)) or not (step is None or _is_number(step)):
        raise ConfigError(f"{where}: low, high and step must be numbers, received: {dict(spec)!r}")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, received: {log!r}")
    if low == high:
        raise ConfigError(f"{where}: low == high ({low!r}) is an empty range: fix the value in the params instead, "
                          "or widen the range")
    if kind is int and not all(float(v).is_integer() for v in (low, high, 1 if step is None else step)):
        raise ConfigError(f"{where} is an integer parameter: low and high must be integers (and step), received: "
                          f"low={low!r}, high={high!r}")
    if step is not None and step > 0 and not math.isclose((high - low) / step, round((high - low) / step), abs_tol=1e-9):
        raise ConfigError(f"{where}: step {step!r} does not divide {low!r} to {high!r} (Optuna would end the range "
                          "short of high): make high - low a multiple of step")
    made: Any
    try:
        if kind is int:
            made = IntDistribution(int(low), int(high), log=log, step=int(step or 1))
        else:
            made = FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))
    except ValueError as exc:  # Optuna's own check: low <= high, low > 0 on a log scale, step > 0, no step with log
        raise ConfigError(f"{where}: {exc}") from None
    return made


def _exponent(value: Any, base: int) -> int | None:
    """k when ``value`` is base**k (k >= 0), else None."""
    if not _is_number(value) or not float(value).is_integer() or value < 1:
        return None
    k = round(math.log(value, base))
    return k if base**k == value else None


def _powers(where: str, kind: type, spec: Mapping[str, Any], int_distribution):
    """``{low, high, powers_of: b}``: the exponents of low and high as an IntDistribution."""
    base = spec["powers_of"]
    if kind is not int or not (_is_number(base) and float(base).is_integer() and base >= 2):
        raise ConfigError(f"{where}: powers_of must be a whole number >= 2, for an integer parameter, received: "
                          f"{dict(spec)!r}")
    if set(spec) - {"low", "high", "powers_of"}:
        raise ConfigError(f"{where}: powers_of cannot be combined with log or step, received: {dict(spec)!r}")
    base = int(base)
    low, high = (_exponent(spec[side], base) for side in ("low", "high"))
    if low is None or high is None:
        raise ConfigError(f"{where}: low and high must be powers of {base}, received: low={spec['low']!r}, "
                          f"high={spec['high']!r}")
    if low >= high:
        raise ConfigError(f"{where}: low must be below high, received: low={spec['low']!r}, high={spec['high']!r}")
    return base, int_distribution(low, high)


@dataclass(frozen=True)
class Dimension:
    """One parameter's range: an Optuna distribution under the parameter's name."""

    name: str
    distribution: Any  # optuna.distributions.BaseDistribution (of the exponent when ``powers_of``)
    powers_of: int | None = None  # the values are powers_of ** k for k in the distribution

    @classmethod
    def parse(cls, model: str, name: str, kind: type, spec: Any) -> Dimension:
        where = f"validation_search.spaces.{model}.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a mapping {{low, high[, log, step]}} or {{choices: [...]}}, "
                              f"received: {spec!r}")
        unknown = sorted(set(spec) - {"low", "high", "log", "step", "choices", "powers_of"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid: low, high, log, step, choices, powers_of")
        made = _distribution(where, kind, spec)
        if isinstance(made, tuple):  # a range of powers: (base, the exponents' distribution)
            return cls(name, made[1], powers_of=made[0])
        return cls(name, made)

    @property
    def optuna_name(self) -> str:
        """The parameter's name in Optuna's trials: ``log2_emb_size`` for a range of powers of 2."""
        return f"log{self.powers_of}_{self.name}" if self.powers_of else self.name

    def value(self, drawn: Any) -> Any:
        """The parameter's value from what an Optuna trial holds (the power, for a range of powers)."""
        return self.powers_of ** int(drawn) if self.powers_of else drawn

    @property
    def choices(self) -> tuple:
        return tuple(getattr(self.distribution, "choices", ()))

    # --- sampling ---------------------------------------------------------------------------
    def suggest(self, trial) -> Any:
        """The value an Optuna trial suggests (from storage when the trial already has it, or was enqueued)."""
        d = self.distribution
        if self.powers_of:
            return self.value(trial.suggest_int(self.optuna_name, d.low, d.high))
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if isinstance(d, quiet_optuna().distributions.IntDistribution):
            return trial.suggest_int(self.name, d.low, d.high, step=d.step, log=d.log)
        return trial.suggest_float(self.name, d.low, d.high, step=d.step, log=d.log)

    def corners(self) -> list[Any]:
        """The values at the range's ends (every choice of a categorical)."""
        return list(self.choices) if self.choices else [self.value(self.distribution.low),
                                                         self.value(self.distribution.high)]

    def key(self) -> Any:
        """What a study's trials depend on beyond its bounds: a categorical's choices (Optuna cannot change them
        within a study), a number range's scale and step. Bounds are left out, so a widened range continues the
        same study."""
        d = self.distribution
        if self.powers_of:
            return {"powers_of": self.powers_of}
        return list(self.choices) if self.choices else {"log": d.log, "step": d.step}

    # --- where a value sits -----------------------------------------------------------------
    def _ends(self) -> tuple[float, float] | None:
        if self.choices:
            if len(self.choices) < 2 or not all(_is_number(c) for c in self.choices):
                return None
            return float(min(self.choices)), float(max(self.choices))
        return float(self.value(self.distribution.low)), float(self.value(self.distribution.high))

    def edge(self, value: Any) -> str | None:
        """'low' or 'high' when ``value`` sits on that edge of the range (the first or last choice of an ordered
        categorical; the outer 5% of a numeric range, on its log scale when ``log``); else None. A natural bound
        counts as an edge here; :meth:`natural` tells it apart."""
        ends = self._ends()
        if ends is None or not _is_number(value):
            return None
        low, high = ends
        if self.choices or self.powers_of:  # a set of values: only the first and the last are edges
            return "low" if value == low else "high" if value == high else None
        scale = math.log if self.distribution.log else float
        lo, hi, x = scale(low), scale(high), scale(max(min(float(value), high), low))
        share = (x - lo) / (hi - lo)
        return "low" if share <= EDGE_SHARE else "high" if share >= 1 - EDGE_SHARE else None

    def natural(self, side: str | None) -> str | None:
        """Why ``side`` of this range is a natural bound (nothing lies beyond it), or None."""
        bound = NATURAL_BOUNDS.get(self.name)
        ends = self._ends()
        if side != "low" or bound is None or ends is None or ends[0] > bound[0]:
            return None
        return bound[1]

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        d = self.distribution
        if self.powers_of:
            return f"{self.value(d.low)} to {self.value(d.high)} (powers of {self.powers_of})"
        text = f"{d.low:g} to {d.high:g}"
        return text + (" (log scale)" if d.log else f" (step {d.step:g})" if d.step not in (None, 1) else "")


@dataclass(frozen=True)
class Space:
    """A model's parameters and their ranges; ``{}`` has nothing to search."""

    model: str
    dimensions: tuple[Dimension, ...]

    def suggest(self, trial) -> dict[str, Any]:
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def distributions(self) -> dict[str, Any]:
        """Each parameter's Optuna distribution, under the name its trials store it by (``log2_emb_size``)."""
        return {d.optuna_name: d.distribution for d in self.dimensions}

    def values(self, drawn: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters' values from an Optuna trial's ``params`` (its names and numbers: ``log2_emb_size``
        7 is ``emb_size`` 128)."""
        return {d.name: d.value(drawn[d.optuna_name]) for d in self.dimensions if d.optuna_name in drawn}

    def _sides(self, params: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
        found = {d.name: (d.edge(params[d.name]), d) for d in self.dimensions if d.name in params}
        return {name: (side, d.natural(side)) for name, (side, d) in found.items() if side}

    def edges(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Each chosen parameter that sits on an edge of its range that is not a natural bound: name -> side."""
        return {name: side for name, (side, why) in self._sides(params).items() if why is None}

    def natural_edges(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Each chosen parameter on a natural bound: name -> 'low: <why>' (dropout 0, one head, ...)."""
        return {name: f"{side}: {why}" for name, (side, why) in self._sides(params).items() if why is not None}

    def key(self) -> dict[str, Any]:
        return {d.name: d.key() for d in self.dimensions}

    def start_point(self, values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A configuration given in the parameters' own values (``batch_size`` 1024, not its exponent) as Optuna's
        trials store it, for ``study.enqueue_trial``. ConfigError naming ``where`` unless it sets every parameter of
        the space, and each inside its range (on its step), as ``optuna.trial.create_trial`` checks."""
        optuna = quiet_optuna()
        create_trial, distributions = optuna.trial.create_trial, optuna.distributions
        dims = {d.name: d for d in self.dimensions}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where} must be a mapping of parameter -> value, received: {values!r}")
        unknown, missing = sorted(set(values) - set(dims)), sorted(set(dims) - set(values))
        if unknown or missing:
            raise ConfigError(f"{where} must set each parameter of {self.model}'s space once ({', '.join(dims)}): "
                              + "; ".join(f"{what} {names}" for what, names in (("unknown", unknown),
                                                                                ("missing", missing)) if names))
        def fits(d: Dimension, drawn: Any) -> bool:
            try:
                create_trial(params={d.optuna_name: drawn}, distributions={d.optuna_name: d.distribution}, value=0.0)
            except ValueError:
                return False
            return True

        stored = {}
        for name, d in dims.items():
            value = values[name]
            drawn = _exponent(value, d.powers_of) if d.powers_of else value
            if drawn is None or not fits(d, drawn):
                raise ConfigError(f"{where}.{name}: {value!r} is not in its range, {d.describe()}")
            number = {distributions.FloatDistribution: float, distributions.IntDistribution: int}.get(
                type(d.distribution))
            stored[d.optuna_name] = number(drawn) if number else drawn
        return stored

    def table(self) -> list[dict[str, str]]:
        return [{"model": self.model, "parameter": d.name, "range": d.describe()} for d in self.dimensions]


def model_params(model: str) -> dict[str, type]:
    """The parameters ``model``'s space may hold, with their types."""
    from arerec.evaluate.baselines import BASELINES

    if model in ARERECS:
        return {name: kind for name, (kind, _) in ARERE_SEARCH_PARAMS.items()}
    if model in BASELINES:
        return {name: param.kind for name, param in BASELINES[model].params.items()}
    raise ConfigError(f"validation_search.spaces: unknown model {model!r}; valid: "
                      f"{', '.join([*ARERECS, *BASELINES])}")


def parse_space(model: str, spec: Any) -> Space:
    """One model's space from its params entry, every parameter name and range checked."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"validation_search.spaces.{model} must be a mapping of parameter -> range, "
                          f"received: {spec!r}")
    valid = model_params(model)
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise ConfigError(f"validation_search.spaces.{model}: unknown parameter(s) {unknown}; valid for {model}: "
                          f"{', '.join(valid)}")
    # in name order: the sampler draws the parameters in this order, so a space written in another order (or a
    # notebook's injected parameters, which come sorted) draws the same trials
    return Space(model, tuple(Dimension.parse(model, name, valid[name], spec[name]) for name in sorted(spec)))


# --------------------------------------------------------------------------------------------
# From sampled values to a model's settings
# --------------------------------------------------------------------------------------------
def arerec_overrides(params: Mapping[str, Any], base: Config) -> dict[str, Any]:
    """Config overrides for ARERec's sampled ``params`` (rounded to 3 significant digits)."""
    values = {name: rounded(value) for name, value in params.items()}
    overrides = {name: value for name, value in values.items() if name in Config.field_names()}
    unknown = sorted(set(values) - set(overrides) - set(DROPOUT_GROUPS) - {"l2_weights"})
    if unknown:
        raise ConfigError(f"ARERec parameter(s) {unknown} set no Config field; valid: {', '.join(ARERE_SEARCH_PARAMS)}")
    groups = [g for g in DROPOUT_GROUPS if g in values]
    if groups:
        rates = [0.0] * len(DROPOUT_SLOTS)
        for group in groups:
            for slot in DROPOUT_GROUPS[group]:
                rates[DROPOUT_SLOTS.index(slot)] = float(values[group])
        overrides.update(use_dropout=int(any(r > 0 for r in rates)), dropout=rates)
    if "l2_weights" in values:
        rate = float(values["l2_weights"])
        overrides.update(use_regularizer=int(rate > 0), regularizer=[rate] * len(REGULARIZER_SLOTS))
    return overrides


def baseline_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A baseline's settings from its sampled ``params`` (numbers rounded to 3 significant digits)."""
    return {name: rounded(value) for name, value in params.items()}


def check_space(space: Space, base: Config) -> None:
    """Raise ConfigError, before any training, when a corner of the space gives an impossible model.

    Every combination of the ranges' ends (every choice of a categorical) is built, as a Config for ARERec
    and through :func:`arerec.evaluate.baselines.resolve_params` for a baseline, so a range that reaches an
    impossible value (emb_size 48 with num_head 5, k 0, ...) fails here with the model's own message.
    """
    from arerec.evaluate.baselines import resolve_params

    names = [d.name for d in space.dimensions]
    for corner in itertools.product(*(d.corners() for d in space.dimensions)):
        params = dict(zip(names, corner, strict=True))
        try:
            if space.model in ARERECS:
                base.replace(**ARERECS[space.model], **arerec_overrides(params, base))
            else:
                resolve_params(space.model, baseline_params(params))
        except ConfigError as exc:
            raise ConfigError(f"validation_search.spaces.{space.model}: the corner {params} is impossible: {exc}") from None
