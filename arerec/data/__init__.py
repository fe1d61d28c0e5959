"""Ratings in, model inputs out: sources, the split, data versions, the model's tables, exploration.

- ``datasets``: where ratings come from (MovieLens download, the recbole fallback, the synthetic generator);
- ``ratings``: the ratings file, read and checked;
- ``split``: the reference's split and the clean protocol;
- ``prepare``: a data version's ``.id`` files, written and read back;
- ``inputs``: the per-item neighbour and LCU tables, and the :class:`~arerec.data.inputs.Experiment` a run loads;
- ``exploration``: statistics of the ratings and of both protocols (notebook 01).
"""
