"""arerec: a reproducibility kit for ARERec (Padungkiatwattana et al., IEEE Access 2022)."""

from arerec.config import Config
from arerec.errors import ArerecError, CheckpointError, ConfigError, DataError, DownloadError

__version__ = "0.1.0"
__all__ = ["Config", "ArerecError", "CheckpointError", "ConfigError", "DataError", "DownloadError", "__version__"]
