"""SQLite persistence: one database file, WAL, one writer connection, short transactions."""
