"""Whether numba has compiled kernels.py's loops on this installation (its cache files exist),
asked without importing numba."""
import os
from pathlib import Path


def compiled_before() -> bool:
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        return any(Path(custom).rglob("kernels.*.nbi"))
    return any((Path(__file__).parent / "__pycache__").glob("kernels.*.nbi"))
