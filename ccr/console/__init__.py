"""The Textual operator console: the hub's state, live, and a way to type into a session."""
