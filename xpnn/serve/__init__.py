"""The browser pages of ``xpnn serve`` and ``xpnn train --dashboard``; imports saving and below.

A drawing pad that a saved model reads, and a training run's curves, live (Python's own HTTP
server, every asset in the package).

drawing.py  a drawing -> the grid a model reads (MNIST's recipe, scikit-learn's digits')
strokes.py  thin strokes widened to the data's ink, before a recipe
bodies.py   request bodies (JSON, PNG) -> ink, or a 4xx with its message
reader.py   a saved model reading drawings (recipe, preprocessing, predict, one at a time)
events.py   a training run for the dashboard: its plan, epochs, end (live or from a log)
access.py   whom the server answers: its own names (Host) and pages (Origin); bounded connections
server.py   the HTTP server: routes, assets, security headers, server-sent events
static/     the pages: pad.html/js, dashboard.html/js, style.css (no request leaves the server)
"""
