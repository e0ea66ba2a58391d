"""One module per ``xpnn`` sub-command; each exposes ``run(args) -> exit status``."""
