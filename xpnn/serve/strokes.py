"""How thick a drawing's strokes are made: as thick as the data's, for the drawing's length.

The pen has one width on the pad, but each recipe scales the drawing to its own box: a 1
drawn down the whole pad ends as a sliver a third of a 4x4 block wide, where the data's
1s are two blocks wide. So before the recipe, thin strokes are widened (a dilation by the
distance transform, scipy.ndimage) until the grid holds the ink the data's images hold.
scikit-learn's digits (UCI optdigits) hold the same ink whatever the digit (313 of the
32x32 bitmap's pixels, the median; 303-330 per class): their strokes are as thick as that
ink spread over their length, so a short digit (a 1, about 32 px long: strokes 9-10 px
wide) has thick ones and a long one (an 8) thinner ones; the drawing's strokes, widened to
the same ink, are as thick as the data's would be for its length. The target is the ink
all but one in twenty of the data's images hold at least (``LEAST_INK_SHARE``; for the
digits, 261 pixels): a drawing holding as much is left as it is (never thinned), as are
the data's own images (widening every image below the median cost their accuracy through
the pad 1.7 points). It is the model file's (its training images', recorded by ``xpnn
train --save``), else the recipe's.
"""
from __future__ import annotations

import numpy as np

INK_LEVEL = 0.5  # ink at least this strong is a stroke's (its edge, for the widening)
LEAST_INK_SHARE = 0.05  # the share of the data's images that hold less ink than the target


def least_ink(images: np.ndarray) -> float:
    """The ink all but ``LEAST_INK_SHARE`` of a data set's images (n, rows, cols) hold at
    least, in the data's units."""
    return float(np.quantile(np.sum(images, axis=(1, 2)), LEAST_INK_SHARE))


def thickened(ink: np.ndarray, grid_of, target: float, steps: int = 8,
              coarse: int = 4) -> np.ndarray:
    """``ink`` with its strokes widened (by up to a quarter of the pad) until the grid that
    ``grid_of`` makes of it holds ``target`` ink; as it is when it holds that much already.
    The width is sought on the ink at 1/``coarse`` of its size (``steps`` bisections), then
    drawn once at full size (where the grid's ink comes within 10 % of the target)."""
    small = shrunk(ink, coarse)
    if grid_of(small).sum() >= target:
        return ink
    widen = widener(small)
    thin, thick = 0.0, max(small.shape) / 4
    for _ in range(steps):  # the grid's ink grows with the radius
        middle = (thin + thick) / 2
        thin, thick = (thin, middle) if grid_of(widen(middle)).sum() >= target else (middle,
                                                                                       thick)
    return widener(ink)(thick * coarse)


def widener(ink: np.ndarray):
    """radius -> ``ink`` with every pixel within ``radius`` of a stroke inked (anti-aliased:
    a pixel half outside the new edge half inked)."""
    from scipy import ndimage

    away = ndimage.distance_transform_edt(ink < INK_LEVEL)  # each pixel's distance to a stroke
    return lambda radius: np.maximum(ink, np.clip(radius + 0.5 - away, 0.0, 1.0))


def shrunk(ink: np.ndarray, factor: int) -> np.ndarray:
    """``ink`` at 1/``factor`` of its size: the mean of each ``factor`` x ``factor`` block
    (the edges padded with paper)."""
    height, width = (-(-side // factor) * factor for side in ink.shape)
    padded = np.pad(ink, ((0, height - ink.shape[0]), (0, width - ink.shape[1])))
    return padded.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))
