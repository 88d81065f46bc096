"""The demo: the stand-in Claude Code agent (stdlib only) and the ccr demo runner.

Composes a Hub and the console like ccr console does; the agent imports nothing from ccr.
"""
