"""Many runs: seeds and variants, where they train, the validation search, the headline and the ablation.

- ``seeds``: every variant of a configuration under every seed, trained or loaded, one row per run;
- ``executors``: where a sweep's unfinished runs train first: here (``executor: local``: the sweep's loop, or
  ``workers`` worker processes) or as Ray tasks (``ray``);
- ``parallel``: a sweep's unfinished runs trained several at a time, each in a worker process;
- ``spaces``: what each model's search may vary, checked before any training;
- ``tuning``: hyper-parameters chosen on validation, one Optuna study per model (test is never read);
- ``headline``: ARERec and the baselines under both protocols over seeds, and the paper's claims as verdicts;
- ``ablation``: variants of the tuned configuration over seeds;
- ``progress``: "run i of n" lines, with tqdm's estimate of the time left.

Each sweep calls the training loop (:mod:`arerec.train`) for its runs and scores them with :mod:`arerec.evaluate`.
"""
