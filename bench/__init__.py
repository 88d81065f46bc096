"""Benchmarks for ccr, run against the real hub process and real tmux, sshd and Bot API
stand-in. `python -m bench` runs them all; see bench/README.md."""
