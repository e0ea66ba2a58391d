"""Whole models to and from files (save_model, load_model); imports estimators and below."""
