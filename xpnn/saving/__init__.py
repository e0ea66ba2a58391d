"""Whole models to and from files (what a model file holds, save_model, load_model); imports estimators and below."""
