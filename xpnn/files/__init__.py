"""File helpers: atomic writes, a safetensors file with its integrity record; imports errors."""
