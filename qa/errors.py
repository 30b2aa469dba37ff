"""Domain errors. The CLI turns them into one-line messages and exit codes, the app into gr.Error."""


class QAError(Exception):
    """Base class: every error the library raises on purpose."""

    exit_code = 1


class DocumentError(QAError):
    """A file could not be read or parsed; names the file and the reason."""

    exit_code = 3


class IndexStoreError(QAError):
    """The index is missing, corrupt, or does not match the settings."""

    exit_code = 4


class ModelError(QAError):
    """A model could not be found, verified or loaded."""

    exit_code = 5


class InputError(QAError):
    """A request is malformed (empty question, bad option)."""

    exit_code = 2


class NotFoundError(QAError):
    """A named document (or other resource) does not exist."""

    exit_code = 6
