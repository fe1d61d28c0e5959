"""Training one run: its name and folder, its batches, model, checkpoints, predictions, epoch choice and loop.

- ``runs``: a run's name (the reference's, with our additions) and its folder: checkpoints, results CSV, config;
- ``batches``: a split's rows in an epoch's order, batched, with the neighbour and LCU ids gathered;
- ``build``: the seeded Keras model and optimiser of a run; freeing them between runs;
- ``checkpoints``: weights and optimiser state in one HDF5 file, checked on load;
- ``predict``: class probabilities for a split, and an epoch's metrics;
- ``selection``: the epoch chosen on validation, and early stopping;
- ``loop``: the compiled step, :func:`~arerec.train.loop.train` and :func:`~arerec.train.loop.train_or_load`;
- ``backends``: the step, prediction and variables under each Keras backend (one module per backend);
- ``distribution``: a run over many devices or hosts (``keras.distribution``, under JAX).

Many runs (seeds, variants, the validation search, the headline) are :mod:`arerec.sweeps`.
"""
