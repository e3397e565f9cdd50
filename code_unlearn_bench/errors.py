"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class CubError(Exception):
    """A problem with the user's input or environment (bad path, unknown name, malformed data).

    The CLI turns it into ``cub: error: <message>`` on stderr and exit code 2, never a traceback.
    """

    exit_code = 2


class DataError(CubError):
    """Unreadable or malformed data file."""


class ModelError(CubError):
    """A model that cannot be found or loaded."""


class SandboxError(CubError):
    """The code-execution sandbox is unavailable or failed its self-check."""
