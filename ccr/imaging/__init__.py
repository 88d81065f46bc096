"""Pictures of panes: a pane's ANSI screen drawn as a PNG with a monospace font."""
