"""Read-only inspections of what a topic holds."""
