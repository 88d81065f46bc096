"""Command-line face (Typer): serve, console, sessions, send, hook, doctor, demo.

A face: talks to the hub's API (or builds a Hub); holds no SQL, SSH or retry loop.
"""
