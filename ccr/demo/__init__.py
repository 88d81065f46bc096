"""Demo pieces: the stand-in Claude Code agent and the `ccr demo` runner."""
