"""Pure metric functions: POPE answer parsing and scoring (no model, no I/O)."""
