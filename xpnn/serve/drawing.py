"""A drawing on the pad -> the grid a model reads, prepared the way its training images were.

Pure NumPy/SciPy on the host. ``ink`` is a (height, width) array of ink in [0, 1] (the
canvas's alpha channel / 255). Each recipe returns grids in the data's own units, before
the model file's saved preprocessing (``Preprocessing.apply``) runs on it:

- 28x28 (MNIST, Kaggle's CSV, Fashion-MNIST): MNIST's recipe (LeCun et al.): crop to the
  ink, scale the longer side to 20 px with anti-aliasing (a box filter), pad to 28x28, move
  the centre of mass to the centre; pixels 0-255.
- 8x8 (scikit-learn's digits, UCI optdigits): crop to the ink, scale the longer side to 32 px,
  centre it in a 32x32 bitmap on the 4x4 block grid (where the centre falls between two
  blocks: both places, and the reader keeps the one the model is surer of), count the ink
  in each block: 0-16.

Before either, strokes thinner than the data's are widened (``strokes.py``): the recipe
scales a drawing to its box, and a thin stroke drawn large would arrive as a sliver.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

INK_THRESHOLD = 0.5 / 255  # ink that rounds to 0 in an 8-bit canvas is not the drawing's extent


@dataclass(frozen=True)
class Recipe:
    """How drawings become one image shape's grids, and what that shape is known as.

    ``prepare`` gives the grids a drawing may be, (k, rows, cols): k = 1 where the recipe
    decides (MNIST's), more where the data itself does not (the reader takes the one the
    model reads with the most confidence)."""
    prepare: Callable  # ink (h, w) in [0, 1] -> grids (k, rows, cols) in the data's units
    shape: tuple       # (rows, cols) of the grid
    value_range: float  # the data's largest value (ink at full strength)
    known_as: str
    least_ink: float | None  # the ink nearly all the data's images hold (strokes.py); None: unknown


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle holding every pixel of ``ink`` above ``INK_THRESHOLD``."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def box_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of an area resampling: output cell i averages the input cells
    it overlaps, each weighted by the overlap (anti-aliased down, blocky up)."""
    edges_out = np.arange(n_out + 1) * (n_in / n_out)  # output cell edges in input units
    lo, hi = edges_out[:-1, None], edges_out[1:, None]
    cells = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, shape) -> np.ndarray:
    """``image`` area-resampled to ``shape`` (rows, cols)."""
    rows = box_weights(image.shape[0], shape[0])
    cols = box_weights(image.shape[1], shape[1])
    return rows @ image @ cols.T


def fit_longer_side(ink: np.ndarray, side: int) -> np.ndarray:
    """``ink`` scaled, aspect kept, so that its longer side is ``side`` pixels."""
    height, width = ink.shape
    scale = side / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize(ink, shape)


def paste_centred(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` in the middle of a blank ``side`` x ``side`` field."""
    field = np.zeros((side, side))
    top, left = ((side - extent) // 2 for extent in image.shape)
    field[top:top + image.shape[0], left:left + image.shape[1]] = image
    return field


def block_places(extent: int, side: int, block: int) -> list[int]:
    """Where a run of ``extent`` pixels can start in ``side`` on the ``block`` grid next to
    the centred start: that start itself when it lies on the grid, else the two around it."""
    centred = (side - extent) / 2
    places = {block * math.floor(centred / block), block * math.ceil(centred / block)}
    return sorted(place for place in places if 0 <= place <= side - extent)


def paste_on_blocks(image: np.ndarray, side: int, block: int) -> np.ndarray:
    """``image`` in blank ``side`` x ``side`` fields, centred and snapped to the ``block``
    grid: (k, side, side), one field per place next to the centre (1, 2 or 4 of them)."""
    fields = []
    for top in block_places(image.shape[0], side, block):
        for left in block_places(image.shape[1], side, block):
            field = np.zeros((side, side))
            field[top:top + image.shape[0], left:left + image.shape[1]] = image
            fields.append(field)
    return np.array(fields)


def mnist_grid(ink: np.ndarray) -> np.ndarray:
    """MNIST's recipe: 20x20 box, 28x28 field, centre of mass at the centre; 0-255:
    (28, 28)."""
    from scipy import ndimage

    box = fit_longer_side(crop_to_ink(ink), 20)
    field = paste_centred(box, 28)
    centre = (np.array(field.shape) - 1) / 2
    # a whole-pixel move: the box keeps its sharpness and its extent (sub-pixel moves blur)
    shift = np.round(centre - np.array(ndimage.center_of_mass(field)))
    field = ndimage.shift(field, shift, order=0, mode="constant", cval=0.0)
    return np.round(np.clip(field, 0.0, 1.0) * 255.0)  # 8-bit pixels, as MNIST's


def optdigits_grids(ink: np.ndarray) -> np.ndarray:
    """scikit-learn's digits (UCI optdigits): 32x32 bitmap, ink per 4x4 block, 0-16:
    (k, 8, 8), one grid per block place next to the centre (see ``RECIPES``)."""
    bitmaps = paste_on_blocks(fit_longer_side(crop_to_ink(ink), 32), 32, block=4)
    blocks = bitmaps.reshape(-1, 8, 4, 8, 4).sum(axis=(2, 4))  # (k, 8, 8): ink per block
    return np.clip(np.round(blocks), 0.0, 16.0)


# the image shapes the pad can make, keyed by (rows, cols)
RECIPES = {
    (28, 28): Recipe(lambda ink: mnist_grid(ink)[None], (28, 28), 255.0,
                     "MNIST's: crop to the ink, longer side 20 px, 28x28, centre of mass centred",
                     None),  # MNIST is not on these machines: the model file's, if it has it
    # the data's digits sit on whole blocks, but where a digit's centred place falls
    # between two (a digit 5 blocks wide), they sit at either (at the left one for 24% of
    # them, the right one for 75%): both are asked
    (8, 8): Recipe(optdigits_grids, (8, 8), 16.0,
                   "scikit-learn's digits: strokes widened to the data's ink, crop to the "
                   "ink, longer side 32 px, centred on the 4x4 blocks, ink per block, 0-16",
                   261.0),  # load_digits' (tests/test_serve.py measures it)
}


def has_ink(ink: np.ndarray) -> bool:
    return bool((ink > INK_THRESHOLD).any())


def image_to_ink(grid: np.ndarray, value_range: float, canvas: int) -> np.ndarray:
    """A data set's image (rows, cols) in its own units drawn at ``canvas`` x ``canvas``
    pixels as ink in [0, 1]: what a test image looks like on the pad (the tests use it)."""
    return np.clip(resize(np.asarray(grid, dtype=np.float64) / value_range,
                          (canvas, canvas)), 0.0, 1.0)
