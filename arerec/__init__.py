"""arerec: a reproducibility kit for ARERec (Padungkiatwattana et al., IEEE Access 2022).

One folder per concern; each imports only from those below it (``tests/test_layout.py`` checks):

- ``cli``, ``__main__``: ``python -m arerec``, the original scripts' commands and flags;
- ``bench``: timing of the update modes and the Keras backends;
- ``report``: the notebooks' helpers and parameters, the runner, the index, ``check``, plots;
- ``sweeps``: many runs: seeds and variants, where they train, the validation search, the headline, the ablation;
- ``train``: one run: its name and folder, batches, checkpoints, the loop; one module per Keras backend;
- ``evaluate``: scoring: faithful and standard metrics, rating baselines, statistics over seeds, attention;
- ``model``, ``data``: the Keras 3 model and its optimisers; ratings in, model inputs out.

Beside them, at the bottom, what every layer may use: ``config`` (the one typed :class:`Config`), ``errors``,
``files`` (atomic writes, checksums), ``locks`` (one process per run folder or data version), ``console`` (where
progress lines go), ``backend_check`` (is the Keras backend installed) and ``malloc_tuning`` (the glibc allocator's
settings, and ``python -m arerec.malloc_tuning CMD``, which runs a command under them).
"""

from arerec.config import Config
from arerec.errors import ArerecError, CheckpointError, ConfigError, DataError, DownloadError

__version__ = "0.1.0"
__all__ = ["Config", "ArerecError", "CheckpointError", "ConfigError", "DataError", "DownloadError", "__version__"]
