"""The ratings file: where a dataset's ratings live and how they are read and checked.

Every dataset ends up as ``{data_path}/{dataset}/{dataset}_ratings.csv`` (``userId,itemId,rating,timestamp``;
:mod:`arerec.data.datasets` fetches or generates it). :func:`read_ratings_csv` reads any such file and
names the row and the fix of every problem it finds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from arerec.config import Config
from arerec.errors import DataError

log = logging.getLogger(__name__)

RATING_COLUMNS = ["userId", "itemId", "rating", "timestamp"]


def ratings_path(cfg: Config) -> Path:
    return cfg.data.dataset_dir / f"{cfg.data.dataset}_ratings.csv"


def _read_four_columns(path: Path) -> pd.DataFrame:
    """The file's rows as text ids and raw values under :data:`RATING_COLUMNS`; DataError for a missing or empty
    file, one that is not CSV, or one without four columns."""
    if not path.is_file():
        raise DataError(f"ratings file not found: {path} (expected a CSV with columns user,item,rating,timestamp)")
    try:
        df = pd.read_csv(path, dtype={0: str, 1: str}, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (expected a header and rows user,item,rating,timestamp)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as CSV ({str(exc).splitlines()[0]})") from None
    if df.shape[1] != 4:
        hint = " (is it tab- or '::'-separated? use commas)" if df.shape[1] == 1 else ""
        raise DataError(
            f"{path}: expected 4 comma-separated columns user,item,rating,timestamp, found {df.shape[1]}{hint}"
        )
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows")
    df.columns = RATING_COLUMNS
    return df


def read_ratings_csv(path: str | Path) -> pd.DataFrame:
    """Read a ratings CSV (user, item, rating, timestamp with a header row) and check it.

    User and item ids are kept as they are (ints or strings); rating and timestamp must be
    numbers. Every problem raises :class:`DataError` naming the file, the row and the fix.
    """
    path = Path(path)
    df = _read_four_columns(path)
    for column in ("userId", "itemId"):
        missing = df[column].isna()
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0]) + 2
            raise DataError(f"{path}: row {row}: missing {column}")
    for column in ("rating", "timestamp"):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            found = df[column].iloc[row]
            found = "an empty value" if pd.isna(found) else repr(found)
            raise DataError(f"{path}: row {row + 2}: {column} must be a number, found {found}")
        df[column] = values
    df["userId"] = _maybe_int(df["userId"])
    df["itemId"] = _maybe_int(df["itemId"])
    if (df["rating"] == df["rating"].round()).all():
        df["rating"] = df["rating"].astype(np.int64)
    if (df["timestamp"] == df["timestamp"].round()).all():
        df["timestamp"] = df["timestamp"].astype(np.int64)
    duplicates = df.duplicated(["userId", "itemId"], keep="last")
    if duplicates.any():
        # Documented choice: a re-rating replaces the earlier one (the latest row wins).
        log.warning(
            "%s: %d duplicate (user, item) rows; keeping the latest of each", path, int(duplicates.sum())
        )
        df = _keep_latest(df)
    return df


def _maybe_int(column: pd.Series) -> pd.Series:
    """Ids that are all integers become int64 (so they sort numerically); others stay strings."""
    as_int = pd.to_numeric(column, errors="coerce")
    if as_int.notna().all() and (as_int == as_int.round()).all():
        return as_int.astype(np.int64)
    return column.astype(str)


def _keep_latest(df: pd.DataFrame) -> pd.DataFrame:
    order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy()))
    latest = df.iloc[order].drop_duplicates(["userId", "itemId"], keep="last")
    return df.loc[df.index.isin(latest.index)].reset_index(drop=True)
