"""Many runs: seeds and variants, worker processes, the validation search, the headline and the ablation.

- ``seeds``: every variant of a configuration under every seed, trained or loaded, one row per run;
- ``executors``: where a sweep's unfinished runs train first: here (``executor: local``) or as Ray tasks (``ray``);
- ``parallel``: a sweep's unfinished runs trained several at a time, each in a worker process;
- ``tuning``: hyper-parameters chosen on validation by successive halving (test is never read);
- ``headline``: ARERec and the baselines under both protocols over seeds, and the paper's claims as verdicts;
- ``ablation``: variants of the tuned configuration over seeds;
- ``progress``: "run i of n" lines with an ETA.

Each sweep calls the training loop (:mod:`arerec.train`) for its runs and scores them with :mod:`arerec.evaluate`.
"""
