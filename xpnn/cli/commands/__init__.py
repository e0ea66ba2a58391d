"""One module per ``xpnn`` sub-command, each a ``run(args) -> exit status``; imports any layer."""
