"""ccr: drive Claude Code sessions in tmux, locally and over SSH, from Telegram and a console."""

__version__ = "0.1.0"
