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


# The hint of every refusal of pass@k at temperature 0 (config and task specs alike).
SAMPLING_HINT = "sample instead, e.g. --temperature 0.8 --top-p 0.95 (the Codex paper's pass@k setting)"


# vLLM reports a KV cache that does not fit as a ValueError at engine start
_OOM_TEXTS = ("out of memory", "kv cache", "cache blocks")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means the model ran out of (GPU) memory: MemoryError, torch's
    OutOfMemoryError (matched by name: torch is not imported here), or a RuntimeError /
    ValueError whose text says so (CUDA errors, vLLM's KV-cache checks)."""
    if isinstance(exc, MemoryError) or any(c.__name__ == "OutOfMemoryError" for c in type(exc).__mro__):
        return True
    if isinstance(exc, (RuntimeError, ValueError)):
        text = str(exc).lower()
        return any(t in text for t in _OOM_TEXTS)
    return False


def out_of_memory_message(exc: BaseException, command: str | None, batch_size: int | None = None) -> str:
    """One line: what ran out, and the knobs of the command that bound memory."""
    detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)[:200]
    now = f" (now {batch_size})" if batch_size else ""
    if command in ("learn", "unlearn"):
        hint = f"try a smaller --batch-size{now} or --max-length, --lora or --gradient-checkpointing"
    else:
        hint = (f"try a smaller --batch-size{now}, or with vLLM a smaller --max-model-len; "
                "what was generated is kept, rerun the same command to resume")
    return f"out of memory ({detail}); {hint}"
