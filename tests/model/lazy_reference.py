"""Lazy Adam in NumPy (float64), the reference the backends' lazy Adams are tested against."""

from __future__ import annotations

import numpy as np


def lazy_adam(start: np.ndarray, steps, lr: float = 0.1, rowwise: bool = False, beta_1: float = 0.9,
              beta_2: float = 0.999, epsilon: float = 1e-7):
    """``steps``: (rows, values) per step, ``values[k]`` the gradient of row ``rows[k]`` (duplicates summed).
    Every row that appears is updated, the others keep their moments and do not move. Returns (w, m, v)."""
    w = start.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros(w.shape[:-1] if rowwise else w.shape)
    for t, (rows, values) in enumerate(steps, start=1):
        grad = np.zeros_like(w)
        np.add.at(grad, rows, values)
        for r in np.unique(rows):
            m[r] = beta_1 * m[r] + (1 - beta_1) * grad[r]
            v[r] = beta_2 * v[r] + (1 - beta_2) * (np.mean(grad[r] ** 2, axis=-1) if rowwise else grad[r] ** 2)
            root = np.sqrt(v[r])[..., None] if rowwise else np.sqrt(v[r])
            w[r] -= lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t) * m[r] / (root + epsilon)
    return w, m, v


# a small case: row 1 twice in the first batch, row 0 (padding's row) in the second, rows 2 and 3 never
ROWS = ([1, 4, 1], [0, 4], [5, 0, 5])


def small_case(rank: int = 3, seed: int = 0):
    """(start [6, 2(, 3)], [(rows, values)] per step): the case every backend's test uses."""
    rng = np.random.default_rng(seed)
    shape = (6, 2, 3)[:rank]
    return (rng.normal(size=shape).astype("float32"),
            [(np.array(rows), rng.normal(size=(len(rows), *shape[1:])).astype("float32")) for rows in ROWS])
