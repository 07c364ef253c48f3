"""newsdrop: drop a post into a bucket, get a static site."""

from __future__ import annotations

__version__ = "0.1.0"
