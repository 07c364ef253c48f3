"""The `newsdrop` command."""
