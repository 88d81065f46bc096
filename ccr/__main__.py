"""`python -m ccr` and the `ccr` command.

`ccr hook` skips the CLI framework (about 0.2 s of imports) and goes straight to the
stdlib-only hook; everything else is the Typer CLI. The command `ccr hook --print-settings`
prints for Claude Code does not come through here at all: it runs hook.py with `python -I -S`
(no site, no package), which costs Claude a fraction of this entry point's start-up.
"""

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["hook"] and not {"--help", "-h"} & set(args):
        from ccr import hook

        hook.run(args[1:])  # exits; never raises (a broken pipe included)
    from ccr.cli.main import run

    run()


if __name__ == "__main__":
    main()
