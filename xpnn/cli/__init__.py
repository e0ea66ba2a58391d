"""The xpnn command, one module per command; imports any layer, and none imports it."""
