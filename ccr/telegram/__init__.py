"""Telegram face: the bot's handlers and how hub messages are rendered for Telegram."""
