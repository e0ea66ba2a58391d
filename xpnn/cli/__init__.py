"""The xpnn command: flags to library calls, one module per command; imports any layer, none imports it."""
