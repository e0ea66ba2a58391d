"""Digits as people draw them on the pad, as pen strokes: tests/test_browser.py draws each with
the mouse at every one of PLACES. Strokes are in a unit box (x right, y down), each a list of
points; the box is ``aspect`` times as wide as it is high."""
import math


def arc(cx, cy, rx, ry, start=0.0, end=360.0, points=32):
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
