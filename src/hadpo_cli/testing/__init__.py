"""Test doubles that ship with the package: the local chat-completions judge."""
