"""The bundled sample corpus (train, dev, test) and the drift demo's word lists: package data,
found through importlib.resources, so a wheel install has them too."""
from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    return Path(str(files(__name__) / name))
