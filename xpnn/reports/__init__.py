"""What a run's records and predictions say, as numbers and pictures (host only); imports files and errors."""
