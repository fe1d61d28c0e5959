"""Get ratings into the layout the original ARERec scripts read.

Every dataset ends up as ``{data_path}/{dataset}/{dataset}_ratings.csv`` with the header
``userId,itemId,rating,timestamp`` (all integers). :func:`ensure_ratings` is the one entry point:

* ``ml-100k`` / ``ml-1m``: an existing CSV is reused as is. Otherwise the GroupLens zip is
  downloaded into ``{data_path}/downloads/`` (timeout and retries), its SHA-256 is checked and its
  ratings are converted in the file's own row order. When the download fails, ``ml-100k`` falls
  back to the copy of MovieLens-100K shipped inside the PyPI wheel ``recbole==1.2.1`` (fetched with
  ``pip download``, or reused from the downloads folder); ``ml-1m`` has no fallback and the error
  says where to put the files by hand.
* ``synthetic``: a generated dataset (:func:`make_synthetic`) with planted neighbour structure;
  it is rewritten whenever its parameters change (they are kept in a ``.meta.json`` sidecar).
* any other name: the CSV must already exist.

Each CSV written here gets a ``{dataset}_ratings.meta.json`` sidecar saying where it came from.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from arerec.data.ratings import RATING_COLUMNS, ratings_path
from arerec.errors import DataError, DownloadError
from arerec.files import atomic_path, sha256_file, write_text_atomic

if TYPE_CHECKING:
    from arerec.config import Config

log = logging.getLogger(__name__)

COLUMNS = RATING_COLUMNS

# --- GroupLens ------------------------------------------------------------------------------
# SHA-256 of the official zips, as recorded in tensorflow/datasets
# (tensorflow_datasets/url_checksums/movielens.txt: ml-100k.zip 4924029 bytes, ml-1m.zip 5917549
# bytes); the ml-1m value is also pinned by tensorflow/examples (MOVIELENS_ZIP_HASH) and the
# ml-100k value by several other public projects. GroupLens itself publishes MD5s
# (ml-100k.zip.md5 0e33842e24a9c977be4e0107933c0723, ml-1m.zip.md5 c4d9eecfca2ab87c1945afe126590906).
GROUPLENS = {
    "ml-100k": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "sha256": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "member": "ml-100k/u.data",
        "sep": "\t",
    },
    "ml-1m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "sha256": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "member": "ml-1m/ratings.dat",
        "sep": "::",
    },
}
DOWNLOAD_TIMEOUT_S = 30.0
DOWNLOAD_TRIES = 3
DOWNLOAD_BACKOFF_S = 1.0  # waits 1 s, then 2 s, ... between tries

# --- ml-100k fallback: the copy inside the recbole wheel on PyPI (same rows, same order as u.data)
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
RECBOLE_MEMBER_SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
PIP_TIMEOUT_S = 300.0

SYNTHETIC = "synthetic"
KNOWN_DATASETS = ("ml-100k", "ml-1m", SYNTHETIC)
SYNTHETIC_VERSION = 1  # bump when make_synthetic changes its output, so cached files are rebuilt

_urlopen = urllib.request.urlopen  # module attributes so tests can stub the network
_sleep = time.sleep


# =============================================================================================
# entry point
# =============================================================================================
def ensure_ratings(cfg: Config) -> Path:
    """Make sure ``{data_path}/{dataset}/{dataset}_ratings.csv`` exists and return its path."""
    name = cfg.data.dataset
    csv = ratings_path(cfg)
    if name == SYNTHETIC:
        return _ensure_synthetic(cfg, csv)
    if csv.is_file():
        log.info("%s: using existing ratings file %s", name, csv)
        return csv
    if name in GROUPLENS:
        frame, source = _fetch_movielens(name, Path(cfg.data.data_path))
        _write_ratings(csv, frame, source)
        log.info("%s: wrote %d ratings to %s (source: %s)", name, len(frame), csv, source["source"])
        return csv
    raise DataError(
        f"dataset {name!r}: ratings file not found: {csv} (expected a CSV with header "
        f"{','.join(COLUMNS)}). Known dataset names that are fetched or generated: "
        f"{', '.join(KNOWN_DATASETS)}; any other name needs that file to exist."
    )


def _write_ratings(csv: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    frame = frame[COLUMNS].astype("int64")
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    meta = {**meta, "rows": int(len(frame)), "csv_sha256": sha256_file(csv)}
    write_text_atomic(_meta_path(csv), json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _meta_path(csv: Path) -> Path:
    return csv.with_name(csv.name[: -len(".csv")] + ".meta.json")


# =============================================================================================
# MovieLens
# =============================================================================================
def _fetch_movielens(name: str, data_path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    spec = GROUPLENS[name]
    downloads = data_path / "downloads"
    zip_path = downloads / spec["url"].rsplit("/", 1)[-1]
    by_hand = data_path / name / spec["member"].rsplit("/", 1)[-1]
    if by_hand.is_file() and not zip_path.is_file():
        log.warning("%s: converting %s placed by hand (no checksum to verify it against)", name, by_hand)
        frame = _parse_ratings(by_hand.read_bytes(), spec["sep"], str(by_hand))
        return frame, {"dataset": name, "source": f"by hand: {by_hand}"}
    try:
        _obtain_verified(spec["url"], zip_path, spec["sha256"])
    except DownloadError as exc:
        if name != "ml-100k":
            raise DownloadError(
                f"{exc}. {name} has no offline fallback: download {spec['url']} yourself and put it at "
                f"{zip_path}, or put the extracted {by_hand.name} at {by_hand}, then run again."
            ) from exc
        log.warning("%s: GroupLens download failed (%s); falling back to the %s wheel", name, exc, RECBOLE_REQUIREMENT)
        try:
            frame, meta = _ml100k_from_recbole(downloads)
        except DownloadError as fallback_exc:
            raise DownloadError(
                f"ml-100k: GroupLens download failed ({exc}) and the {RECBOLE_REQUIREMENT} fallback failed too "
                f"({fallback_exc}). Put ml-100k.zip at {zip_path}, or u.data at {by_hand}, then run again."
            ) from fallback_exc
        return frame, {"dataset": name, **meta}
    log.info("%s: converting GroupLens archive %s", name, zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        raw = archive.read(_find_member(archive, spec["member"], zip_path))
    frame = _parse_ratings(raw, spec["sep"], f"{zip_path}:{spec['member']}")
    return frame, {"dataset": name, "source": f"GroupLens {spec['url']}", "source_sha256": spec["sha256"]}


def _find_member(archive: zipfile.ZipFile, member: str, where: Path) -> str:
    names = archive.namelist()
    if member in names:
        return member
    base = member.rsplit("/", 1)[-1]
    for candidate in names:
        if candidate.rsplit("/", 1)[-1] == base:
            return candidate
    raise DataError(f"{where}: archive has no {member}")


def _parse_ratings(raw: bytes, sep: str, where: str) -> pd.DataFrame:
    """Parse headerless ``user item rating timestamp`` rows, keeping their order."""
    if sep != "\t":  # '::' would need pandas' slow python engine; a byte swap keeps the C engine
        raw = raw.replace(sep.encode(), b"\t")
    try:
        frame = pd.read_csv(io.BytesIO(raw), sep="\t", header=None, names=COLUMNS, dtype="int64")
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{where}: not 'user item rating timestamp' integer rows ({exc})") from None
    return frame


def _obtain_verified(url: str, dest: Path, sha256: str) -> None:
    """Leave a file at ``dest`` whose SHA-256 is ``sha256``: reuse it or download it."""
    if dest.is_file():
        got = sha256_file(dest)
        if got == sha256:
            log.info("reusing verified download %s", dest)
            return
        log.warning("%s: checksum %s does not match %s; downloading it again", dest, got, sha256)
        dest.unlink()
    download(url, dest)
    verify_sha256(dest, sha256)


def download(url: str, dest: Path, *, tries: int | None = None, timeout: float | None = None) -> Path:
    """Fetch ``url`` to ``dest`` atomically, retrying with a growing pause; raise DownloadError."""
    tries = DOWNLOAD_TRIES if tries is None else tries
    timeout = DOWNLOAD_TIMEOUT_S if timeout is None else timeout
    last: Exception | None = None
    for attempt in range(1, tries + 1):
        try:
            log.info("downloading %s (try %d of %d)", url, attempt, tries)
            with atomic_path(dest) as tmp, _urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
            return dest
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
            last = exc
            log.warning("download of %s failed (try %d of %d): %s", url, attempt, tries, exc)
            if attempt < tries:
                _sleep(DOWNLOAD_BACKOFF_S * 2 ** (attempt - 1))
    raise DownloadError(f"could not download {url} after {tries} tries: {last}")


def verify_sha256(path: Path, expected: str) -> None:
    """Raise DownloadError (and delete ``path``) when its SHA-256 is not ``expected``."""
    got = sha256_file(path)
    if got != expected:
        path.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {path}: expected sha256 {expected}, got {got}; removed the file")


# --- ml-100k from the recbole wheel -----------------------------------------------------------
def _ml100k_from_recbole(downloads: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    wheel = downloads / RECBOLE_WHEEL
    if wheel.is_file() and sha256_file(wheel) != RECBOLE_WHEEL_SHA256:
        log.warning("%s: checksum does not match %s; fetching it again", wheel, RECBOLE_WHEEL_SHA256)
        wheel.unlink()
    if wheel.is_file():
        log.info("ml-100k: reusing %s", wheel)
    else:
        _pip_download(downloads)
        if not wheel.is_file():
            raise DownloadError(f"pip download finished but {wheel} is not there")
        verify_sha256(wheel, RECBOLE_WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as archive:
        try:
            raw = archive.read(RECBOLE_MEMBER)
        except KeyError:
            raise DownloadError(f"{wheel}: has no {RECBOLE_MEMBER}") from None
    got = hashlib.sha256(raw).hexdigest()
    if got != RECBOLE_MEMBER_SHA256:
        raise DownloadError(
            f"checksum mismatch for {wheel}:{RECBOLE_MEMBER}: expected sha256 {RECBOLE_MEMBER_SHA256}, got {got}"
        )
    log.info("ml-100k: using %s from %s", RECBOLE_MEMBER, wheel)
    frame = _parse_recbole_inter(raw, f"{wheel}:{RECBOLE_MEMBER}")
    return frame, {
        "source": f"PyPI wheel {RECBOLE_REQUIREMENT}: {RECBOLE_MEMBER}",
        "source_sha256": RECBOLE_MEMBER_SHA256,
        "wheel_sha256": RECBOLE_WHEEL_SHA256,
    }


def _pip_download(dest_dir: Path) -> None:
    """``pip download`` the recbole wheel (no dependencies) into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        RECBOLE_REQUIREMENT, "-d", str(dest_dir),
    ]
    log.info("ml-100k: running %s", " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DownloadError(f"pip download {RECBOLE_REQUIREMENT} took longer than {PIP_TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise DownloadError(f"could not run pip download {RECBOLE_REQUIREMENT}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
        raise DownloadError(f"pip download {RECBOLE_REQUIREMENT} failed (exit {done.returncode}): {' | '.join(tail)}")


def _parse_recbole_inter(raw: bytes, where: str) -> pd.DataFrame:
    """RecBole atomic file: tab-separated, header ``user_id:token item_id:token rating:float timestamp:float``."""
    try:
        frame = pd.read_csv(io.BytesIO(raw), sep="\t", dtype={"user_id:token": "int64", "item_id:token": "int64"})
        frame = frame.rename(columns=lambda c: c.split(":", 1)[0])
        frame = frame.rename(columns={"user_id": "userId", "item_id": "itemId"})[COLUMNS]
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise DataError(f"{where}: not a RecBole user/item/rating/timestamp file ({exc})") from None
    for column in ("rating", "timestamp"):
        values = frame[column].to_numpy(dtype="float64")
        if not np.all(np.isfinite(values) & (values == np.round(values))):
            raise DataError(f"{where}: column {column} holds non-integer values")
        frame[column] = values.astype("int64")
    return frame


# =============================================================================================
# synthetic
# =============================================================================================
def _ensure_synthetic(cfg: Config, csv: Path) -> Path:
    n_users, n_items, n_ratings, seed = (int(cfg.data.synthetic_users), int(cfg.data.synthetic_items),
                                         int(cfg.data.synthetic_ratings), int(cfg.data.synthetic_seed))
    params = {
        "dataset": SYNTHETIC,
        "generator": "arerec.data.datasets.make_synthetic",
        "version": SYNTHETIC_VERSION,
        "n_users": n_users,
        "n_items": n_items,
        "n_ratings": n_ratings,
        "seed": seed,
    }
    meta_path = _meta_path(csv)
    if csv.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if {key: meta.get(key) for key in params} == params and meta.get("csv_sha256") == sha256_file(csv):
            log.info("synthetic: using existing %s (parameters unchanged)", csv)
            return csv
        log.info("synthetic: parameters or file changed; regenerating %s", csv)
    frame = make_synthetic(n_users, n_items, n_ratings, seed)
    _write_ratings(csv, frame, {**params, "source": "generated by arerec.data.datasets.make_synthetic"})
    log.info("synthetic: wrote %d generated ratings to %s", len(frame), csv)
    return csv


# Generator settings. Ratings: 3.5 + item quality + group-by-item affinity + user bias + noise.
_N_GROUPS = 4
_QUALITY_SD = 0.5
_AFFINITY_SD = 0.9
_USER_BIAS_SD = 0.25
_NOISE_SD = 0.45
_OFF_TREND = 0.15  # share of ratings placed at a random time in the item's life, not in its group's window
_T0 = 880_000_000  # seconds (late 1997, like MovieLens-100K)
_SPAN_S = 200 * 86_400
_FLOOR_SHARE = 0.3  # every user/item gets at least this share of the mean ratings per user/item
_DENSE_CELL_LIMIT = 30_000_000  # above this many user x item cells, sample pairs sparsely


def _seed_streams(seed: int) -> list[np.random.Generator]:
    children = np.random.SeedSequence(int(seed) % 2**64).spawn(4)
    return [np.random.default_rng(child) for child in children]


def synthetic_user_groups(n_users: int, seed: int) -> np.ndarray:
    """The latent taste group (0..3) of each synthetic user (index 0 is userId 1)."""
    rng = _seed_streams(seed)[0]
    return rng.integers(0, min(_N_GROUPS, n_users), size=n_users)


def make_synthetic(n_users: int = 120, n_items: int = 60, n_ratings: int = 4000, seed: int = 7) -> pd.DataFrame:
    """A ratings table with neighbour structure an item-neighbour model can exploit.

    * Users fall into latent taste groups (:func:`synthetic_user_groups`). A rating is
      ``round(3.5 + quality[item] + affinity[group, item] + bias[user] + noise)`` clipped to 1..5,
      so the raters of an item who share the target user's group predict them far better than
      the item mean does.
    * Items "trend" in each group at a different time: every group gets its own window in the
      item's life and most of its ratings of the item fall there. So among an item's raters in
      time order, those who rated close together mostly share a group and agree.
    * Activity and popularity are long-tailed (log-normal weights), yet every user and item gets
      at least ~30% of the mean count. No (user, item) pair repeats. Rows are sorted by time;
      ids start at 1; all columns are int64. Deterministic for a seed.
    """
    n_users, n_items, n_ratings = int(n_users), int(n_items), int(n_ratings)
    if min(n_users, n_items, n_ratings) < 1:
        raise ValueError(f"n_users, n_items and n_ratings must be >= 1, received {n_users}, {n_items}, {n_ratings}")
    if n_ratings > n_users * n_items:
        raise ValueError(f"n_ratings={n_ratings} exceeds the {n_users * n_items} possible (user, item) pairs")
    rng_group, rng_pairs, rng_time, rng_rating = _seed_streams(seed)
    n_groups = min(_N_GROUPS, n_users)
    group = rng_group.integers(0, n_groups, size=n_users)

    users, items = _sample_pairs(rng_pairs, n_users, n_items, n_ratings)
    g = group[users]
    when = _rating_times(rng_time, items, g, n_groups, n_items)
    quality = rng_rating.normal(0.0, _QUALITY_SD, n_items)
    affinity = rng_rating.normal(0.0, _AFFINITY_SD, (n_groups, n_items))
    bias = rng_rating.normal(0.0, _USER_BIAS_SD, n_users)
    raw = 3.5 + quality[items] + affinity[g, items] + bias[users] + rng_rating.normal(0.0, _NOISE_SD, n_ratings)
    rating = np.clip(np.rint(raw), 1, 5)

    frame = pd.DataFrame(
        {
            "userId": users.astype("int64") + 1,
            "itemId": items.astype("int64") + 1,
            "rating": rating.astype("int64"),
            "timestamp": np.floor(when).astype("int64"),
        }
    )
    return frame.sort_values(["timestamp", "userId", "itemId"], kind="stable").reset_index(drop=True)


def _rating_times(rng: np.random.Generator, items: np.ndarray, g: np.ndarray, n_groups: int,
                  n_items: int) -> np.ndarray:
    """When each rating was made: each item lives for a while; each group's ratings of it cluster in the group's
    own window of that life, but for a share :data:`_OFF_TREND` made at any time in it."""
    n_ratings = len(items)
    release = _T0 + rng.uniform(0.0, 0.5, n_items) * _SPAN_S
    life = rng.uniform(0.3, 0.5, n_items) * _SPAN_S
    slot = rng.permuted(np.tile(np.arange(n_groups), (n_items, 1)), axis=1)  # slot[item, group]
    centre = release[items] + (slot[items, g] + 0.5) / n_groups * life[items]
    when = centre + rng.normal(0.0, 1.0, n_ratings) * 0.3 * life[items] / n_groups
    off = rng.random(n_ratings) < _OFF_TREND
    when[off] = release[items[off]] + rng.random(int(off.sum())) * life[items[off]]
    return np.clip(when, release[items], release[items] + life[items])


def _floors(n_users: int, n_items: int, n_ratings: int) -> tuple[int, int]:
    per_user = min(n_items, max(1, int(_FLOOR_SHARE * n_ratings / n_users)))
    per_item = min(n_users, max(1, int(_FLOOR_SHARE * n_ratings / n_items)))
    return per_user, per_item


def _sample_pairs(rng: np.random.Generator, n_users: int, n_items: int, n_ratings: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs, drawn in proportion to activity x popularity, with floors."""
    log_activity = rng.normal(0.0, 0.8, n_users).astype(np.float32)
    log_popularity = rng.normal(0.0, 1.0, n_items).astype(np.float32)
    per_user, per_item = _floors(n_users, n_items, n_ratings)
    if n_users * n_items <= _DENSE_CELL_LIMIT:
        # Gumbel top-k over every cell = weighted sampling without replacement. Each user's best
        # per_user cells and each item's best per_item cells are lifted above the rest first.
        keys = rng.random((n_users, n_items), dtype=np.float32)
        with np.errstate(divide="ignore"):
            np.log(keys, out=keys)
            np.negative(keys, out=keys)
            np.log(keys, out=keys)
            np.negative(keys, out=keys)  # now standard Gumbel noise
        keys += log_activity[:, None]
        keys += log_popularity[None, :]
        forced = np.zeros((n_users, n_items), dtype=bool)
        rows = np.argpartition(-keys, per_user - 1, axis=1)[:, :per_user]
        forced[np.arange(n_users)[:, None], rows] = True
        cols = np.argpartition(-keys, per_item - 1, axis=0)[:per_item, :]
        forced[cols, np.arange(n_items)[None, :]] = True
        keys[forced] += 1e4
        flat = keys.ravel()
        chosen = np.argpartition(-flat, n_ratings - 1)[:n_ratings] if n_ratings < flat.size else np.arange(flat.size)
        chosen.sort()
        return chosen // n_items, chosen % n_items
    # Sparse: floors first (a user's items drawn by popularity, an item's users by activity), then
    # independent draws; duplicates are dropped, keeping the first, until n_ratings pairs exist.
    p_user = np.exp(log_activity.astype(np.float64))
    p_user /= p_user.sum()
    p_item = np.exp(log_popularity.astype(np.float64))
    p_item /= p_item.sum()
    parts = [
        np.repeat(np.arange(n_users, dtype=np.int64), per_user) * n_items
        + rng.choice(n_items, size=n_users * per_user, p=p_item),
        rng.choice(n_users, size=n_items * per_item, p=p_user).astype(np.int64) * n_items
        + np.repeat(np.arange(n_items, dtype=np.int64), per_item),
    ]
    codes = _unique_in_order(np.concatenate(parts))[:n_ratings]
    while codes.size < n_ratings:
        need = int((n_ratings - codes.size) * 1.2) + 16
        extra = rng.choice(n_users, size=need, p=p_user).astype(np.int64) * n_items + rng.choice(
            n_items, size=need, p=p_item
        )
        codes = _unique_in_order(np.concatenate([codes, extra]))[:n_ratings]
    codes = np.sort(codes)
    return codes // n_items, codes % n_items


def _unique_in_order(codes: np.ndarray) -> np.ndarray:
    _, first = np.unique(codes, return_index=True)
    return codes[np.sort(first)]
