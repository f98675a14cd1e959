"""The Yin-Yang data set (Kriener, Göltz and Petrovici 2021), generated in code.

Points ``(x, y)`` lie in the disc of radius ``r_big`` centred at ``(r_big, r_big)``; each has one
of three classes (the definition of the reference generator, whose class indices are kept):

- ``2`` (*dots*): within ``r_small`` of one of the two dot centres ``(r_big/2, r_big)`` and
  ``(3 r_big/2, r_big)``;
- ``1`` (*yin*): otherwise, if within ``r_small`` of the right dot centre, or between ``r_small``
  and ``r_big/2`` from the left dot centre, or above the middle (``y > r_big``) and farther than
  ``r_big/2`` from the right dot centre;
- ``0`` (*yang*): the rest.

Each sample first draws its goal class uniformly (``randint(3)``), then draws points uniformly in
the square ``[0, 2 r_big]^2`` until one lies in the disc and has that class (rejection
sampling), so the classes are balanced in expectation whatever their areas. Features are
``(x, y, 1 - x, 1 - y)``. Every draw comes from ``numpy.random.RandomState(seed)`` in the
reference order, so a seed gives the reference's samples; the reference seeds are 42 (train,
5000 samples), 41 (validation, 1000) and 40 (test, 1000).

>>> data = yinyang(10, seed=0)
>>> data.features.shape, data.labels.shape
((10, 4), (10,))
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = [
    "CLASS_NAMES",
    "YinYangData",
    "YinYangSplits",
    "yinyang",
    "yinyang_class",
    "yinyang_splits",
]

CLASS_NAMES: tuple[str, str, str] = ("yang", "yin", "dots")
"""Names of the classes 0, 1, 2 (the reference's ``which_class`` returns 1 for yin)."""

TRAIN_SEED, VALIDATION_SEED, TEST_SEED = 42, 41, 40


@dataclasses.dataclass(frozen=True)
class YinYangData:
    """``features`` ``(n, 4)`` float32 ``(x, y, 1 - x, 1 - y)``, ``labels`` ``(n,)`` int32."""

    features: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class YinYangSplits:
    """Train, validation and test sets drawn with separate seeds."""

    train: YinYangData
    validation: YinYangData
    test: YinYangData


def _check_radii(r_small: float, r_big: float) -> None:
    if not (math.isfinite(r_big) and r_big > 0):
        raise ValueError(f"r_big must be a positive radius, got {r_big}")
    if not (math.isfinite(r_small) and 0 < r_small < r_big / 2):
        raise ValueError(f"r_small must lie in (0, r_big / 2) = (0, {r_big / 2}), got {r_small}")


def yinyang_class(x: float, y: float, r_small: float = 0.1, r_big: float = 0.5) -> int:
    """Class (0 yang, 1 yin, 2 dots) of a point inside the Yin-Yang disc."""
    d_right = math.hypot(x - 1.5 * r_big, y - r_big)
    d_left = math.hypot(x - 0.5 * r_big, y - r_big)
    if d_right < r_small or d_left < r_small:
        return 2
    yin = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    return int(yin)


def yinyang(size: int, seed: int, *, r_small: float = 0.1, r_big: float = 0.5) -> YinYangData:
    """``size`` samples drawn with ``numpy.random.RandomState(seed)`` (see the module doc)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    _check_radii(r_small, r_big)
    rng = np.random.RandomState(seed)
    features = np.empty((size, 4), np.float32)
    labels = np.empty(size, np.int32)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.hypot(x - r_big, y - r_big) > r_big:
                continue
            if yinyang_class(x, y, r_small, r_big) == goal:
                break
        features[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return YinYangData(features, labels)


def yinyang_splits(
    train_size: int = 5000,
    validation_size: int = 1000,
    test_size: int = 1000,
    *,
    seeds: tuple[int, int, int] = (TRAIN_SEED, VALIDATION_SEED, TEST_SEED),
    r_small: float = 0.1,
    r_big: float = 0.5,
) -> YinYangSplits:
    """Train / validation / test sets with the reference sizes and seeds by default."""
    if len(set(seeds)) != 3:
        raise ValueError(
            f"seeds must be three different seeds (train, validation, test), got {seeds}"
        )
    sets = [
        yinyang(size, seed, r_small=r_small, r_big=r_big)
        for size, seed in zip((train_size, validation_size, test_size), seeds, strict=True)
    ]
    return YinYangSplits(*sets)
