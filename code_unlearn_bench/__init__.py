"""code-unlearn-bench: benchmark suite and reference implementation for code-LLM unlearning."""

__version__ = "0.1.0"
RESULT_SCHEMA_VERSION = "1.0"
