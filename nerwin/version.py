"""The version, in one place (pyproject reads it)."""
__version__ = "0.4.0"
