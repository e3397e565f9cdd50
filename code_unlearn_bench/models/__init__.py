"""Model backends and model loading (see docs/architecture.md)."""
