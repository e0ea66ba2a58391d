"""File helpers every layer may use: atomic writes, one safetensors file with its integrity record; imports only errors."""
