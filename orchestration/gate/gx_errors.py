"""The gate's own error, importable without loading Great Expectations (a 2-4 s import)."""


class GXSetupError(RuntimeError):
    """Great Expectations could not evaluate an expectation: a broken setup, not bad data."""
