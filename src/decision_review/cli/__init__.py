"""The `decision-review` command line: thin commands that parse arguments and call one service."""
