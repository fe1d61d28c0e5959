"""Measurements: timing (the training step, an epoch, evaluation, preparation) per update mode and Keras backend,
a search's pruner replayed on its trials, and why a tuned model collapses to the majority class.

- ``update_modes``: ``python -m arerec bench``: each update mode (dense, lazy, XLA, row-wise moments) in its
  own worker process, on real or ML-1M-shaped data; results and a plot under ``reports/bench/``;
- ``backends``: ``python -m arerec.bench.backends``: the same model's step under JAX or TensorFlow on any
  device, with random inputs of a dataset's shapes;
- ``epochs``: ``python -m arerec.bench.epochs``: epochs of the real training path per backend and update mode;
- ``timing``: the harness both step benches time with (median seconds per step after a warm-up);
- ``pruners``: ``python -m arerec.bench.pruners``: a search's pruner against another, replayed on its trials' curves;
- ``collapse``: ``python -m arerec.bench.collapse``: why a tuned ARERec's argmax drifts to the majority class.
"""
