"""Digits as people draw them on the pad, as pen strokes: tests/test_browser.py draws each of
DRAWINGS with the mouse at every one of PLACES (strokes in a unit box, x right, y down, each
a list of points; the box ``aspect`` times as wide as it is high). ``cell_strokes`` draws a
data set's 8x8 digit over its inked cells; ``rendered`` is the pad's pen in Pillow."""
import math

import numpy as np

CANVAS, PEN = 280, 20  # the page's pad and its pen (pad.js: PEN_WIDTH = pad.width / 14)


def arc(cx, cy, rx, ry, start=0.0, end=360.0, points=16):
    """Points along an ellipse from ``start`` to ``end`` degrees (0: right, 90: down)."""
    return [(cx + rx * math.cos(math.radians(start + (end - start) * k / (points - 1))),
             cy + ry * math.sin(math.radians(start + (end - start) * k / (points - 1))))
            for k in range(points)]


# (label, what it is, strokes, aspect)
DRAWINGS = [
    ("0", "a 0 as an ellipse", [arc(0.5, 0.5, 0.5, 0.5)], 0.65),
    ("1", "a 1 as one line", [[(0.5, 0.0), (0.5, 1.0)]], 0.1),
    ("1", "a 1 with a flag", [[(0.1, 0.25), (0.9, 0.0), (0.9, 1.0)]], 0.3),
    ("2", "a 2", [[(0.05, 0.25), (0.3, 0.02), (0.7, 0.02), (0.95, 0.25), (0.85, 0.5),
                   (0.05, 1.0), (1.0, 1.0)]], 0.65),
    ("3", "a 3", [[(0.05, 0.1), (0.5, 0.0), (0.9, 0.15), (0.9, 0.35), (0.45, 0.5),
                   (0.95, 0.65), (0.95, 0.88), (0.5, 1.0), (0.05, 0.9)]], 0.65),
    ("4", "an open 4", [[(0.65, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.75, 0.3), (0.75, 1.0)]],
     0.7),
    ("4", "a closed 4", [[(0.75, 1.0), (0.75, 0.0), (0.0, 0.65), (1.0, 0.65)]], 0.7),
    ("5", "a 5", [[(0.95, 0.0), (0.15, 0.0), (0.1, 0.45), (0.6, 0.38), (0.95, 0.6),
                   (0.9, 0.9), (0.5, 1.0), (0.05, 0.9)]], 0.65),
    ("6", "a 6", [[(0.8, 0.0), (0.35, 0.25), (0.05, 0.65), (0.2, 0.97), (0.65, 1.0),
                   (0.95, 0.78), (0.7, 0.52), (0.3, 0.55), (0.08, 0.7)]], 0.65),
    ("7", "a 7 as two strokes", [[(0.0, 0.0), (1.0, 0.0)], [(1.0, 0.0), (0.35, 1.0)]], 0.65),
    ("8", "an 8 as two loops", [arc(0.5, 0.25, 0.4, 0.25), arc(0.5, 0.75, 0.5, 0.25)], 0.6),
    ("9", "a 9 with a straight tail", [arc(0.45, 0.27, 0.45, 0.27),
                                       [(0.9, 0.27), (0.85, 1.0)]], 0.6),
]
# where and how large on the 280 px pad: (height, left (None: centred), top), in its pixels
PLACES = [(220, None, 30), (130, 20, 20), (90, 170, 170)]


def on_pad(strokes, aspect, height, left, top, pad=280):
    """The strokes in the pad's pixels for one of PLACES."""
    width = height * aspect
    left = (pad - width) / 2 if left is None else left
    return [[(left + x * width, top + y * height) for x, y in stroke] for stroke in strokes]


def cell_strokes(image, threshold=9):
    """Mouse strokes over an 8x8 digit's inked cells (value >= threshold), as a hand would
    join them: every pair of inked neighbours (across, down, diagonal) joined by a line,
    the lines walked as few strokes as it takes; a cell alone is a dot. [[(row, col), ...]]"""
    inked = image >= threshold
    cells = [(int(row), int(col)) for row, col in np.argwhere(inked)]
    edges = {(cell, (cell[0] + dr, cell[1] + dc)) for cell in cells
             for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1))
             if 0 <= cell[0] + dr < 8 and 0 <= cell[1] + dc < 8
             and inked[cell[0] + dr, cell[1] + dc]}
    unused = {frozenset(edge) for edge in edges}
    strokes = [[cell, cell] for cell in cells
               if not any(cell in edge for edge in unused)]  # dots
    while unused:
        degree = {cell: sum(cell in edge for edge in unused) for cell in cells}
        start = min((cell for cell in cells if degree[cell]),
                    key=lambda cell: (degree[cell] % 2 == 0, cell))  # odd ends first
        stroke = [start]
        while True:
            here = stroke[-1]
            edge = next((edge for edge in sorted(unused, key=sorted) if here in edge), None)
            if edge is None:
                break
            unused.discard(edge)
            stroke.append(next(iter(edge - {here})))
        strokes.append(stroke)
    return strokes


def cells_on_pad(image, height=200, pad=CANVAS):
    """``cell_strokes(image)`` in the pad's pixels: the 8x8 grid ``height`` pixels high in
    its middle (a hand leaves a margin), one pen width a cell."""
    cell, margin = height / 8, (pad - height) / 2
    return [[(margin + (col + 0.5) * cell, margin + (row + 0.5) * cell) for row, col in stroke]
            for stroke in cell_strokes(image)]


def rendered(strokes, pen=PEN, canvas=CANVAS, supersample=4):
    """Strokes (points in the pad's pixels) drawn with a round pen, as the page's canvas
    draws them, as ink in [0, 1] (h, w)."""
    from PIL import Image, ImageDraw

    big = Image.new("L", (canvas * supersample,) * 2, 0)
    draw = ImageDraw.Draw(big)
    radius = pen * supersample / 2
    for stroke in strokes:
        points = [(x * supersample, y * supersample) for x, y in stroke]
        draw.line(points, fill=255, width=round(pen * supersample), joint="curve")
        for x, y in points:  # round caps, and round joints where the line turns sharply
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    small = big.resize((canvas, canvas), Image.BOX)
    return np.asarray(small, dtype=np.float64) / 255.0
