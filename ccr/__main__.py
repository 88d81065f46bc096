"""`python -m ccr` is the same as the `ccr` command."""

from ccr.cli.main import run

run()
