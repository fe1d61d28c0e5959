"""The ARERec model in Keras 3: its layers and its optimisers.

- ``layers``: one Keras layer per step of the model (attention over neighbours, the LCU region
  embedding, masks, dropout) and :func:`~arerec.model.layers.build_model`;
- ``optimizers``: Keras Adam (the reference's dense update) and the row-sparse LazyAdam;
- ``lazy``: LazyAdam's update, one implementation per backend (TensorFlow's sparse gradients, a mask elsewhere).
"""

from arerec.backend_check import require_keras

require_keras()  # before layers.py imports Keras: a missing backend is an error that names the extra to install
