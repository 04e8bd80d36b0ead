"""A node of a computation graph (graph.py): what one gate computed and what flowed back through it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Node:
    name: str                     # unique in its graph: "x", "z", "e[-2]", "E[paris]", ...
    gate: str                     # param, lookup, concat, multiply, add, f, max, affine, loss
    value: np.ndarray             # the forward value v
    grad: np.ndarray              # v-bar = dJ/dv, from the network's own backward code
    inputs: dict[str, float] = field(default_factory=dict)  # input -> norm of the gradient sent back to it
    rule: str = ""                # how v-bar is found from what v feeds, as the notes write it
    local: np.ndarray | None = None   # the local gradient of v's gate, where it is an array (f'(z), ...)
    local_note: str = ""          # that local gradient in words ("1: the add gate", "W", ...)
    note: str = ""                # what the node is, for people
