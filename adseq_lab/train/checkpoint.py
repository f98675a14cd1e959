"""Checkpoints: a pytree (parameters, optimiser state, counters) in one ``.npz`` file.

The leaves are stored as numbered arrays next to a JSON header holding the tree structure, the
leaves' shapes and dtypes, and free-form metadata. Loading takes a template with the same
structure (``like``: e.g. ``(params, optimizer.init(params))``) and refuses a file whose
structure, shapes or dtypes differ, so a checkpoint never silently feeds the wrong model. Writes
go to a temporary file first, then replace the target, so an interrupted save leaves the old
checkpoint intact. No pickle.

>>> import jax.numpy as jnp, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> tree = {"w": jnp.ones(3), "step": jnp.int32(7)}
>>> save_checkpoint(path, tree, {"epoch": 2})
>>> restored, meta = load_checkpoint(path, like=tree)
>>> float(restored["w"].sum()), int(restored["step"]), meta["epoch"]
(3.0, 7, 2)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint"]

_HEADER = "__header__"


def _layout(tree: Any) -> dict[str, Any]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return {
        "treedef": str(treedef),
        "shapes": [list(jnp.shape(leaf)) for leaf in leaves],
        "dtypes": [str(jnp.result_type(leaf)) for leaf in leaves],
    }


def save_checkpoint(
    path: str | os.PathLike, tree: Any, metadata: dict[str, Any] | None = None
) -> None:
    """Write ``tree`` (array leaves) and JSON-serialisable ``metadata`` to ``path`` (``.npz``)."""
    path = Path(path)
    arrays = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]
    header = json.dumps({"layout": _layout(tree), "metadata": metadata or {}})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        np.savez(
            file,
            **{_HEADER: np.frombuffer(header.encode(), np.uint8)},
            **{f"leaf_{i}": a for i, a in enumerate(arrays)},
        )
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike, like: Any) -> tuple[Any, dict[str, Any]]:
    """``(tree, metadata)`` from ``path``; ``tree`` has the structure of ``like``.

    ``ValueError`` if the file was written for a different structure, shape or dtype;
    ``FileNotFoundError`` if it does not exist.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        header = json.loads(bytes(data[_HEADER]).decode())
        arrays = [data[f"leaf_{i}"] for i in range(len(header["layout"]["shapes"]))]
    expected = _layout(like)
    found = header["layout"]
    for key in ("treedef", "shapes", "dtypes"):
        if found[key] != expected[key]:
            raise ValueError(
                f"checkpoint {path} does not match the template ({key} differ): "
                f"file {found[key]}, template {expected[key]}"
            )
    treedef = jax.tree_util.tree_structure(like)
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in arrays]), header[
        "metadata"
    ]
