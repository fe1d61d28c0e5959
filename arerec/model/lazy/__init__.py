"""Lazy Adam: Adam that moves only the embedding and LCU rows a batch gathered.

One update rule, one implementation per backend, behind :func:`arerec.model.optimizers.make_optimizer`:

- ``tensorflow``: :class:`~arerec.model.lazy.tensorflow.LazyAdam` reads the rows from the sparse
  ``tf.IndexedSlices`` gradient and touches only them (the fast mode; measured by ``python -m arerec bench``).
- ``masked``: :class:`~arerec.model.lazy.masked.MaskedLazyAdam` computes the same update with
  ``keras.ops`` on the dense gradient that JAX (and PyTorch) give for a gather, masked to the rows
  the batch touched. Same maths, dense cost: on an accelerator the pass over the tables is cheap.
- ``rowwise``: the optional row-wise second moment both share.
"""
