"""Optimisers: the reference's dense Adam, and a row-sparse ("lazy") Adam beside it (:mod:`arerec.model.lazy`)."""

from __future__ import annotations

UPDATE_MODES = ("dense", "lazy")
SECOND_MOMENTS = ("elementwise", "rowwise")


def make_optimizer(name: str, lr: float, update_mode: str = "dense", jit_compile: bool = False,
                   second_moment: str = "elementwise"):
    """The optimiser for a run: 'adam' or 'rmsprop', with dense (reference) or lazy updates.

    Lazy Adam is :class:`arerec.model.lazy.tensorflow.LazyAdam` under TensorFlow (sparse updates;
    ``jit_compile`` says the step will be XLA-compiled, so it uses static shapes),
    :class:`arerec.model.lazy.torch.SparseLazyAdam` under PyTorch (sparse updates from the row-sparse gradient
    of the PyTorch trainer's gather) and :class:`arerec.model.lazy.masked.MaskedLazyAdam` under JAX (the same
    update, computed densely). ``second_moment='rowwise'`` (lazy only) keeps one second moment per LCU row.
    """
    import keras

    if second_moment not in SECOND_MOMENTS:
        raise ValueError(f"second_moment must be one of {SECOND_MOMENTS}, received: {second_moment!r}")
    if second_moment == "rowwise" and update_mode != "lazy":
        raise ValueError("second_moment 'rowwise' needs update_mode 'lazy'")
    if update_mode not in UPDATE_MODES:
        raise ValueError(f"update_mode must be one of {UPDATE_MODES}, received: {update_mode!r}")
    if name == "adam":
        if update_mode == "dense":
            return keras.optimizers.Adam(learning_rate=lr)
        rowwise = second_moment == "rowwise"
        if keras.backend.backend() == "tensorflow":
            from arerec.model.lazy.tensorflow import LazyAdam

            return LazyAdam(learning_rate=lr, static_shapes=jit_compile, rowwise=rowwise)
        if keras.backend.backend() == "torch":
            from arerec.model.lazy.torch import SparseLazyAdam

            return SparseLazyAdam(learning_rate=lr, rowwise=rowwise)
        from arerec.model.lazy.masked import MaskedLazyAdam

        return MaskedLazyAdam(learning_rate=lr, rowwise=rowwise)
    if name == "rmsprop":
        if update_mode == "lazy":
            raise ValueError("update_mode 'lazy' is implemented for adam only; use update_mode 'dense' with rmsprop")
        return keras.optimizers.RMSprop(learning_rate=lr)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', received: {name!r}")
