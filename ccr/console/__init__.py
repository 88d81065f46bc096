"""The Textual operator console: the hub's state, live, and a way to type into a session.

A face: state comes in through hub events and service calls; holds no SQL, SSH or retry loop.
"""
