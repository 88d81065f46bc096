"""Reaching tmux: transports (local process, SSH) and the executor that types into panes."""
