"""Turning catalog state into site objects: templates, page addresses and the site writer."""
