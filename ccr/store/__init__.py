"""SQLite persistence: one database file, WAL, one writer, a module per table family.

Infrastructure: imports core and the other infrastructure packages, never services or faces.
"""
