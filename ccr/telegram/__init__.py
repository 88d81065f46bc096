"""Telegram face: the bot's handlers and how hub messages are rendered for Telegram.

A face: imports services, core and infrastructure; holds no SQL, SSH or retry loop.
"""
