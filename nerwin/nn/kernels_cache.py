"""Whether numba has compiled kernels.py's loops on this installation (its cache files exist),
asked without importing numba."""
from pathlib import Path


def compiled_before() -> bool:
    return any((Path(__file__).parent / "__pycache__").glob("kernels.*.nbi"))
