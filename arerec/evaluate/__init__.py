"""How predictions are scored and judged: metrics, rating baselines, statistics over seeds, attention.

- ``metrics``: the reference's faithful HR@k and NDCG@k, and the standard ones (RMSE, MAE, tie-aware NDCG);
- ``baselines``: rating baselines (global and item means, Surprise's BaselineOnly, SVD, KNNBaseline) and their tuning;
- ``scoring``: ARERec and the baselines scored alike on one split; the confusion matrix;
- ``stats``: means with 95% confidence intervals over seeds, paired differences, verdicts;
- ``attention``: what the neighbour attention looks at (notebook 04).

Nothing here trains ARERec: the training loop scores its epochs with ``metrics``, and the sweeps
(:mod:`arerec.sweeps`) use the rest.
"""
