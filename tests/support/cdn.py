"""A CDN that records what it is asked to invalidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class RecordingCdn:
    batches: list[list[str]] = field(default_factory=list)  # one per invalidation request

    def invalidate(self, paths: Sequence[str]) -> None:
        self.batches.append(list(paths))

    @property
    def paths(self) -> list[str]:
        return [path for batch in self.batches for path in batch]
