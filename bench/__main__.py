"""`python -m bench`: run every benchmark with its defaults (arguments go to each one)."""

from __future__ import annotations

import sys

from bench import (
    command_path,
    console_start,
    dispatch,
    feedback,
    history_search,
    hook,
    load,
    metrics_overhead,
    one_down,
    scale,
)

BENCHMARKS = {"dispatch": dispatch.main, "command_path": command_path.main,
              "one_down": one_down.main, "metrics_overhead": metrics_overhead.main,
              "load": load.main, "scale": scale.main,
              "history_search": history_search.main, "feedback": feedback.main,
              "hook": hook.main, "console_start": console_start.main}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    worst = 0
    for name, run in BENCHMARKS.items():
        print(f"=== {name} ===", flush=True)
        worst = max(worst, run(args))
    return worst


if __name__ == "__main__":
    sys.exit(main())
