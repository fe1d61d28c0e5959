"""Errors the kit raises for bad input. The CLI prints them as one line, without a traceback."""


class ArerecError(Exception):
    """A problem with the user's input or files, with a message that names it and the fix."""


class ConfigError(ArerecError, ValueError):
    """An impossible or unknown parameter."""


class DataError(ArerecError):
    """A missing, malformed or unusable dataset file."""


class DownloadError(DataError):
    """A dataset could not be fetched or failed its checksum."""


class CheckpointError(ArerecError):
    """A missing, corrupted or mismatched model checkpoint."""


class ComparisonError(ArerecError):
    """A rebuilt or committed metrics.json that cannot be read, so the two cannot be compared."""


class ClusterError(ArerecError):
    """A Ray cluster (``executor: ray``) that cannot be reached, or a run's task that failed there."""


class SharedStorageError(ClusterError):
    """A folder (``model_path``, ``data_path``) that a node of the Ray cluster does not see as the driver does."""


class BusyError(ArerecError):
    """A run folder or a data version that another process is writing now (:mod:`arerec.locks`)."""


class BackendMissingError(ArerecError):
    """The Keras backend that KERAS_BACKEND names is not installed (an extra of pyproject.toml: arerec.backend_check)."""
