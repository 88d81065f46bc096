"""Command-line face (Typer): serve, console, sessions, send, hook, doctor, demo."""
