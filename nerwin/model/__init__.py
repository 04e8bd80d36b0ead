"""The model object (window_model.py) and its files (checkpoint.py)."""
from nerwin.model.window_model import WindowModel  # noqa: F401
