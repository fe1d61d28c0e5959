"""What ARERec's neighbour attention looks at (docs/reference.md §3), as tidy tables.

For a (user, item) row the model attends over the item's first ``max_seq`` raters in time order
(its neighbours); each head's weights sum to 1 over the non-padding positions. Sequences differ in
length, so weights are compared as *relative attention*: weight x number of neighbours, where 1
means "as much as a uniform head would give".

In the clean protocol each row sees its own window (the item's latest ``max_seq`` raters before the
row's time, ``seq_end``), not the item's table row: :func:`neighbours_for` gives the neighbours a
row really saw, and every function here that needs them uses it.

With ``use_attention=0`` there are no weights: the target user never enters the model, which is
then an item-only model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


def sample_rows(exp, n: int, seed: int, split: str = "test") -> pd.DataFrame:
    """``n`` rows of ``split`` drawn without replacement (all when fewer), in row order.

    Columns: row (position in the split), userId, itemId, rating, and seq_end when the split has it
    (clean protocol: how many of the item's train raters the row may see).
    """
    rows = getattr(exp.prepared, split)
    picked = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False))
    columns = ["userId", "itemId", "rating"] + (["seq_end"] if "seq_end" in rows else [])
    table = rows.iloc[picked][columns].reset_index(drop=True)
    table.insert(0, "row", picked)
    return table


def _model_inputs(exp, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model's inputs for the rows: in the clean protocol each row's own window (its seq_end)."""
    ends = None
    if exp.clean:
        if "seq_end" not in rows:
            from arerec.errors import DataError

            raise DataError(
                f"rows need a seq_end column in the clean protocol: each row sees its own window of the "
                f"item's raters; received columns: {list(rows.columns)}. Draw them with sample_rows"
            )
        ends = np.asarray(rows["seq_end"], dtype=np.int64)
    return exp.inputs(np.asarray(rows["userId"], dtype=np.int64), np.asarray(rows["itemId"], dtype=np.int64), ends)


def neighbours_for(exp, rows: pd.DataFrame) -> np.ndarray:
    """[N, L] neighbour user ids of the rows exactly as the model saw them (0 = padding).

    The reference protocol gives every row of an item the item's first ``max_seq`` raters; the clean
    one gives each row the latest ``max_seq`` raters before its ``seq_end``. These are the
    neighbours to pass with :func:`attention_for`'s weights to :func:`relative_attention`,
    :func:`position_profile` and :func:`uniformity`.
    """
    return _model_inputs(exp, rows)["neighbours"]


def attention_for(model, exp, rows: pd.DataFrame, batch_size: int = 512) -> np.ndarray:
    """[N, H, L] attention weights for the (userId, itemId) rows, over :func:`neighbours_for`'s
    neighbours (in the clean protocol the rows' windows, from their ``seq_end``).

    Raises ConfigError when the model has no attention (``use_attention=0``).
    """
    from keras import ops

    from arerec.errors import ConfigError
    from arerec.model.layers import attention_weights

    chunks = []
    for start in range(0, len(rows), batch_size):
        part = rows.iloc[start : start + batch_size]
        weights = attention_weights(model, _model_inputs(exp, part))
        if weights is None:
            raise ConfigError(
                "use_attention=0: this model has no attention weights to show. The target user never "
                "enters it: it is an item-only model. Run 04_attention with use_attention=1"
            )
        chunks.append(ops.convert_to_numpy(weights))  # a PyTorch tensor that requires grad too
    return np.concatenate(chunks)


@dataclass
class PairAttention:
    """One row's attention over its non-padding neighbours, in time order."""

    user: int
    item: int
    rating: float
    weights: np.ndarray  # [H, n]
    neighbours: np.ndarray  # [n] user ids
    target_position: int | None  # where the target user sits among the neighbours, if there


def pair_attention(exp, row: pd.Series, weights: np.ndarray) -> PairAttention:
    """Cut one row's [H, L] weights down to the real neighbours it saw and find the target user."""
    neighbours = neighbours_for(exp, row.to_frame().T)[0]  # [L]
    n = int(np.count_nonzero(neighbours))
    neighbours = neighbours[:n]
    found = np.flatnonzero(neighbours == int(row["userId"]))
    return PairAttention(
        user=int(row["userId"]),
        item=int(row["itemId"]),
        rating=float(row["rating"]),
        weights=np.asarray(weights)[:, :n],
        neighbours=neighbours,
        target_position=int(found[0]) if len(found) else None,
    )


def relative_attention(weights: np.ndarray, neighbours: np.ndarray, *, mean_of_heads: bool = False) -> np.ndarray:
    """[N, H, L] weights x each row's number of real neighbours (1 = uniform); NaN at padding.

    With ``mean_of_heads``, the mean over heads: [N, L].
    """
    valid = neighbours != 0  # [N, L]
    scaled = np.asarray(weights) * valid.sum(axis=1)[:, None, None]  # [N, H, L]
    if mean_of_heads:
        return np.where(valid, scaled.mean(axis=1), np.nan)  # [N, L]
    return np.where(valid[:, None, :], scaled, np.nan)


def position_profile(weights: np.ndarray, neighbours: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean relative attention by neighbour position, per head and averaged over heads.

    Positions are relative (0 = the item's earliest rater in the window, 1 = its latest), cut into
    ``bins`` equal bins, because windows differ in length. Columns: bin, position (bin centre),
    head ('1', '2', ... or 'mean'), relative_attention, ci (95% half-width of the mean, normal
    approximation over the bin's (row, neighbour) pairs), count.
    """
    rel = relative_attention(weights, neighbours)  # [N, H, L]
    n = (neighbours != 0).sum(axis=1)  # [N]
    index = np.arange(neighbours.shape[1])[None, :]  # [1, L]
    where = index / np.maximum(n - 1, 1)[:, None]  # [N, L] relative position in [0, 1]
    bin_of = np.minimum((where * bins).astype(int), bins - 1)  # [N, L]
    valid = neighbours != 0
    frames = []
    heads = {str(h + 1): rel[:, h, :] for h in range(rel.shape[1])}
    heads["mean"] = relative_attention(weights, neighbours, mean_of_heads=True)
    for head, values in heads.items():
        frame = pd.DataFrame({"bin": bin_of[valid], "value": values[valid]})
        grouped = frame.groupby("bin")["value"].agg(["mean", "std", "size"]).reindex(range(bins))
        frames.append(pd.DataFrame({
            "bin": range(bins),
            "position": (np.arange(bins) + 0.5) / bins,
            "head": head,
            "relative_attention": grouped["mean"].to_numpy(),
            "ci": _half_width(grouped["std"], grouped["size"]),
            "count": grouped["size"].fillna(0).astype(int).to_numpy(),
        }))
    return pd.concat(frames, ignore_index=True)


def position_wide(profile: pd.DataFrame) -> pd.DataFrame:
    """:func:`position_profile` as one row per position bin and, per head ("head 1", ..., "mean of heads"), its mean
    relative attention and the 95% half-width beside it ("head 1_ci"): the table a reader compares across heads (a
    report page writes each pair as "mean ± CI")."""
    heads = list(dict.fromkeys(profile["head"]))
    names = {h: "mean of heads" if h == "mean" else f"head {h}" for h in heads}
    means = profile.pivot(index="position", columns="head", values="relative_attention")[heads].rename(columns=names)
    halves = profile.pivot(index="position", columns="head", values="ci")[heads].rename(
        columns=lambda h: f"{names[h]}_ci")
    wide = pd.concat([means, halves], axis=1)[[c for n in names.values() for c in (n, f"{n}_ci")]]
    wide.columns.name = None
    counts = profile[profile["head"] == heads[-1]].set_index("position")["count"]
    return wide.assign(neighbours=counts).reset_index().rename(columns={"position": "position (bin centre)"})


def uniformity(weights: np.ndarray, neighbours: np.ndarray) -> pd.DataFrame:
    """How far each head's attention is from uniform over the row's real neighbours.

    For a row with ``n`` real (non-padding) neighbours and a head's weights ``w_1 .. w_n`` (summing
    to 1 over them, as :func:`attention_for` gives with :func:`neighbours_for`'s neighbours):

    - normalised entropy ``H(w) / log(n)``, with ``H(w) = -sum_j w_j log w_j`` (``0 log 0 = 0``):
      1 for a uniform head, 0 for all weight on one neighbour;
    - peaked when ``max_j w_j > 2 / n``: the largest weight is more than twice the uniform one;
    - relative max ``n * max_j w_j``: 1 for a uniform head, ``n`` for a one-hot one.

    Rows with fewer than 2 real neighbours are skipped (``log(1) = 0``: the entropy is undefined).

    Args:
        weights: [N, H, L] attention weights.
        neighbours: [N, L] neighbour ids, 0 at padding.

    Returns one row per head ('1', '2', ...) and a row 'all' with the mean over heads. Columns:
    head, rows (rows used), normalised_entropy (mean over rows), share_peaked (share of rows
    peaked), max_weight_mean (mean relative max).
    """
    weights = np.asarray(weights, dtype=np.float64)  # [N, H, L]
    valid = np.asarray(neighbours) != 0  # [N, L]
    if weights.ndim != 3 or weights.shape[::2] != valid.shape:
        raise ValueError(f"weights must be [N, H, L] and neighbours [N, L], received: {weights.shape} and "
                         f"{valid.shape}")
    n = valid.sum(axis=1)  # [N]
    used = n >= 2
    w = np.where(valid[:, None, :], weights, 0.0)[used]  # [M, H, L]
    n = n[used]  # [M]
    sums = w.sum(axis=2)  # [M, H]
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(f"each head's weights must sum to 1 over the row's real neighbours (are these the "
                         f"neighbours the model saw? see neighbours_for); received sums from {sums.min():.4g} "
                         f"to {sums.max():.4g}")
    plogp = w * np.log(np.where(w > 0, w, 1.0))  # [M, H, L], 0 where w = 0
    entropy = -plogp.sum(axis=2) / np.log(n)[:, None]  # [M, H]
    top = w.max(axis=2) * n[:, None]  # [M, H] relative max
    peaked = top > 2.0
    heads = [str(h + 1) for h in range(weights.shape[1])]
    table = pd.DataFrame({
        "head": heads,
        "rows": int(used.sum()),
        "normalised_entropy": _mean_over_rows(entropy),
        "share_peaked": _mean_over_rows(peaked),
        "max_weight_mean": _mean_over_rows(top),
    })
    means = table.drop(columns=["head", "rows"]).mean()
    overall = {"head": "all", "rows": int(used.sum()), **{str(name): value for name, value in means.items()}}
    return pd.concat([table, pd.DataFrame([overall])], ignore_index=True)


def _mean_over_rows(values: np.ndarray) -> np.ndarray:
    """[M, H] -> [H] mean over rows; NaN (not a warning) when there are no rows."""
    if len(values) == 0:
        return np.full(values.shape[1], np.nan)
    return values.mean(axis=0, dtype=np.float64)


def uniformity_summary(table: pd.DataFrame) -> dict[str, float | list[float]]:
    """:func:`uniformity`'s table as plain floats for metrics.json: per-head lists and their means."""
    heads = table[table["head"] != "all"]
    overall = table[table["head"] == "all"].iloc[0]
    return {
        "normalised_entropy_per_head": [float(v) for v in heads["normalised_entropy"]],
        "normalised_entropy": float(overall["normalised_entropy"]),
        "share_peaked_per_head": [float(v) for v in heads["share_peaked"]],
        "share_peaked": float(overall["share_peaked"]),
    }


def neighbour_similarity(train: pd.DataFrame, users: np.ndarray, neighbours: np.ndarray) -> pd.DataFrame:
    """Similarity of each (user, neighbour) pair in the TRAIN ratings.

    Columns: co_rated (items both rated in train) and rms_diff (root-mean-square difference of
    their ratings on those items; NaN when none; lower means more agreement).
    """
    from scipy import sparse

    users, neighbours = np.asarray(users, dtype=np.int64), np.asarray(neighbours, dtype=np.int64)
    size = int(max(train["userId"].max(), users.max(initial=0), neighbours.max(initial=0))) + 1
    shape = (size, int(train["itemId"].max()) + 1)
    r = sparse.csr_matrix((train["rating"].to_numpy(float), (train["userId"], train["itemId"])), shape=shape)
    rated = r.copy()
    rated.data[:] = 1.0
    squared = r.multiply(r).tocsr()
    targets, at = np.unique(users, return_inverse=True)  # work on the distinct target users only

    def pairs(a, b) -> np.ndarray:  # (a[targets] @ b.T)[pair] for every pair
        return np.asarray((a[targets] @ b.T)[at, neighbours]).ravel()

    co_rated = pairs(rated, rated)
    # sum over co-rated items of (r_u - r_v)^2 = sum r_u^2 + sum r_v^2 - 2 sum r_u r_v
    sq_diff = pairs(squared, rated) + pairs(rated, squared) - 2 * pairs(r, r)
    rms = np.full(len(users), np.nan)
    np.divide(np.maximum(sq_diff, 0.0), co_rated, out=rms, where=co_rated > 0)
    return pd.DataFrame({"co_rated": co_rated.astype(np.int64), "rms_diff": np.sqrt(rms)})


def attention_similarity(exp, rows: pd.DataFrame, weights: np.ndarray) -> pd.DataFrame:
    """One row per (sampled row, real neighbour): relative attention (mean over heads) beside the
    neighbour's similarity to the target user in the train ratings.

    Columns: row, userId, itemId, position, neighbour, is_target, relative_attention, co_rated,
    rms_diff.
    """
    neighbours = neighbours_for(exp, rows)  # [N, L]
    rel = relative_attention(weights, neighbours, mean_of_heads=True)  # [N, L]
    r, position = np.nonzero(neighbours)
    table = pd.DataFrame({
        "row": rows["row"].to_numpy()[r],
        "userId": rows["userId"].to_numpy()[r],
        "itemId": rows["itemId"].to_numpy()[r],
        "position": position,
        "neighbour": neighbours[r, position],
    })
    table["is_target"] = table["neighbour"] == table["userId"]
    table["relative_attention"] = rel[r, position]
    similarity = neighbour_similarity(exp.prepared.train, table["userId"].to_numpy(), table["neighbour"].to_numpy())
    return pd.concat([table, similarity], axis=1)


def binned(table: pd.DataFrame, column: str, bins: int = 8) -> pd.DataFrame:
    """Mean relative attention of the non-target neighbours in quantile bins of ``column``.

    Columns: bin (the interval as text), low, high, relative_attention, count.
    """
    others = table[~table["is_target"]].dropna(subset=[column])
    cut = pd.qcut(others[column], q=bins, duplicates="drop")
    grouped = others.groupby(cut, observed=True)["relative_attention"].agg(["mean", "std", "size"])
    return pd.DataFrame({
        "bin": [str(i) for i in grouped.index],
        "low": [i.left for i in grouped.index],
        "high": [i.right for i in grouped.index],
        "relative_attention": grouped["mean"].to_numpy(),
        "ci": _half_width(grouped["std"], grouped["size"]),
        "count": grouped["size"].to_numpy(),
    })


def _half_width(std: pd.Series, size: pd.Series) -> np.ndarray:
    """95% half-width of a mean (normal approximation); NaN for fewer than 2 values."""
    sd, n = std.to_numpy(dtype=float), size.to_numpy(dtype=float)
    out = np.full(len(sd), np.nan)
    np.divide(1.96 * sd, np.sqrt(n), out=out, where=np.nan_to_num(n) >= 2)
    return out


def spearman_ci(x, y, groups=None, *, n_boot: int = 200, seed: int = 0,
                confidence: float = 0.95) -> tuple[float, float, float]:
    """Spearman's rho of ``x`` and ``y`` with a ``confidence`` interval: (rho, low, high).

    With ``groups`` (e.g. the sampled row of each (row, neighbour) pair), a percentile bootstrap that
    resamples whole groups, since the pairs of one row are not independent of each other; without, the
    Fisher z interval with the Fieller-Hartley-Pearson standard error ``sqrt(1.06 / (n - 3))``.
    NaN pairs are dropped; fewer than 4 pairs give NaN bounds.
    """
    frame = pd.DataFrame({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)})
    if groups is not None:
        frame["g"] = np.asarray(groups)
    frame = frame.dropna()
    n = len(frame)
    if n < 4:
        return float("nan"), float("nan"), float("nan")
    rho = float(frame["x"].corr(frame["y"], method="spearman"))
    alpha = (1 - confidence) / 2
    if groups is None:
        from scipy.stats import norm

        z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), np.sqrt(1.06 / (n - 3))
        q = norm.ppf(1 - alpha)
        return rho, float(np.tanh(z - q * se)), float(np.tanh(z + q * se))
    codes, _ = pd.factorize(frame["g"])
    members = pd.Series(np.arange(n)).groupby(codes).apply(np.asarray).tolist()
    rng = np.random.default_rng(seed)
    x_all, y_all = frame["x"].to_numpy(), frame["y"].to_numpy()
    rhos = []
    with warnings.catch_warnings():  # a resample of a few groups can be constant: its rho is NaN, skipped
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            take = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
            rhos.append(pd.Series(x_all[take]).corr(pd.Series(y_all[take]), method="spearman"))
    low, high = np.nanquantile(rhos, [alpha, 1 - alpha])
    return rho, float(low), float(high)


def position_spearman(weights: np.ndarray, neighbours: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """:func:`spearman_ci` of relative attention (mean of heads) with relative position in the window
    (0 = earliest, 1 = latest), over every (row, real neighbour) pair, bootstrapped over rows."""
    rel = relative_attention(weights, neighbours, mean_of_heads=True)  # [N, L]
    valid = neighbours != 0
    n = valid.sum(axis=1)
    where = np.arange(neighbours.shape[1])[None, :] / np.maximum(n - 1, 1)[:, None]  # [N, L]
    rows = np.broadcast_to(np.arange(len(neighbours))[:, None], neighbours.shape)
    return spearman_ci(where[valid], rel[valid], rows[valid], **kwargs)


def sample_pairs(rows: pd.DataFrame, n: int, seed: int) -> list[int]:
    """Positions of up to ``n`` rows of ``rows`` drawn with ``seed``, no two with the same user or item."""
    order = np.random.default_rng(seed).permutation(len(rows))
    users, items, picked = set(), set(), []
    for position in order:
        user, item = int(rows["userId"].iloc[position]), int(rows["itemId"].iloc[position])
        if user in users or item in items:
            continue
        users.add(user)
        items.add(item)
        picked.append(int(position))
        if len(picked) == n:
            break
    return picked


def target_can_be_a_neighbour(exp) -> bool:
    """Whether a test row's own user can sit among its neighbours: under the reference protocol only (the
    clean one builds each row's window from training raters before its time, never the row's user)."""
    return not exp.clean


def similarity_summary(table: pd.DataFrame) -> dict[str, float]:
    """Spearman correlations of relative attention with similarity (target excluded), with 95% bootstrap
    intervals over the sampled rows (``..._low``, ``..._high``), and how much attention the target user
    gets when it sits among its own item's neighbours."""
    others = table[~table["is_target"]]
    target = table[table["is_target"]]
    per_row = table.groupby("row")["relative_attention"]
    top = table.loc[per_row.idxmax()]
    correlations = {}
    for column in ("co_rated", "rms_diff"):
        rho, low, high = spearman_ci(others["relative_attention"], others[column], others["row"])
        correlations.update({f"spearman_attention_{column}": rho, f"spearman_attention_{column}_low": low,
                             f"spearman_attention_{column}_high": high})
    return {
        "pairs": int(len(others)),
        **correlations,
        "share_rows_with_target_in_window": float(table.groupby("row")["is_target"].any().mean()),
        "mean_relative_attention_on_target": float(target["relative_attention"].mean()) if len(target) else np.nan,
        "share_rows_where_target_gets_most_attention": float(top["is_target"].mean()),
    }


def uniformity_of(model, exp, n: int, seed: int) -> pd.DataFrame:
    """:func:`uniformity` of ``model`` on ``n`` sampled test rows of its own experiment."""
    rows = sample_rows(exp, n, seed)
    return uniformity(attention_for(model, exp, rows), neighbours_for(exp, rows))
