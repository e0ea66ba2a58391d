"""The body of ``POST /api/predict`` -> ink (height, width) in [0, 1], or a ``BadBody`` with
the status and the one line to answer.

Two kinds of body, by Content-Type:

- ``application/json``: ``{"width": W, "height": H, "ink": "<base64 of W*H bytes>"}`` (the
  page's own call: the canvas's alpha channel, row by row, 0-255) or ``{"pixels": [[...],
  ...]}``, rows of numbers 0-255 (handy with curl);
- ``image/png``: any PNG; its alpha channel is the ink when it has one that is not all
  opaque, else dark ink on a light ground (or light on dark, as its border says).
"""
from __future__ import annotations

import base64
import binascii
import io
import json

import numpy as np

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 1024 x 1024 canvas in base64 JSON is 1.4 MB
MIN_SIDE, MAX_SIDE = 8, 1024  # pixels: a pad smaller than the grid, or larger than a screen


class BadBody(Exception):
    """A request the pad cannot read: ``status`` (4xx) and a message for people."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _json_ink(body: bytes) -> np.ndarray:
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadBody(400, f"the body is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise BadBody(400, 'expected a JSON object: {"width", "height", "ink"} or {"pixels"}')
    if "pixels" in request:
        try:
            pixels = np.array(request["pixels"], dtype=np.float64)
        except (TypeError, ValueError):
            raise BadBody(400, '"pixels" must be rows of numbers 0-255, all of one length')
        if pixels.ndim != 2:
            raise BadBody(400, f'"pixels" must be rows of numbers (2-D), got {pixels.ndim}-D')
        _check_shape(*pixels.shape)
        if not (np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 255):
            raise BadBody(400, '"pixels" must hold numbers from 0 to 255')
        return pixels / 255.0
    width, height = request.get("width"), request.get("height")
    if not all(isinstance(side, int) and not isinstance(side, bool) for side in (width, height)):
        raise BadBody(400, '"width" and "height" must be integers (with "ink"), or give '
                           '"pixels"')
    _check_shape(height, width)
    try:
        ink = base64.b64decode(request.get("ink", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise BadBody(400, '"ink" must be base64 text (the canvas\'s alpha bytes)')
    if len(ink) != width * height:
        raise BadBody(400, f'"ink" holds {len(ink)} bytes; a {width}x{height} pad has '
                           f'{width * height}')
    return np.frombuffer(ink, dtype=np.uint8).reshape(height, width) / 255.0


def _png_ink(body: bytes) -> np.ndarray:
    from ..extras import require

    image_module = require("PIL.Image", feature="a PNG body for /api/predict", extra="serve")
    try:
        image = image_module.open(io.BytesIO(body))
        if image.format != "PNG":
            raise BadBody(415, f"the body is a {image.format} image; send a PNG (image/png)")
        _check_shape(image.height, image.width)
        image.load()
    except BadBody:
        raise
    except Exception as exc:  # Pillow's many decoding errors
        raise BadBody(400, f"the body is not a readable PNG ({type(exc).__name__}: {exc})") \
            from None
    if "A" in image.getbands() or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"), dtype=np.float64)[..., 3]
        if alpha.min() < 255:
            return alpha / 255.0
    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 1.0 - grey if border.mean() > 0.5 else grey  # ink is what differs from the ground


def _check_shape(height: int, width: int) -> None:
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise BadBody(400, f"a {width}x{height} pad: each side must be {MIN_SIDE} to "
                           f"{MAX_SIDE} pixels")


# Content-Type (before any ";") -> the reader of that kind of body
READERS = {"application/json": _json_ink, "image/png": _png_ink}


def read_ink(content_type: str, body: bytes) -> np.ndarray:
    """The ink of a request body, by its Content-Type; BadBody for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    reader = READERS.get(kind)
    if reader is None:
        raise BadBody(415, f"Content-Type {kind or '(none)'!r}: send application/json or "
                           f"image/png")
    return reader(body)
