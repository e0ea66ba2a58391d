"""A run's metrics, history and plots (host only); imports files and errors."""
