"""Files the site serves as they are (images, PDFs): copied from the source bucket to the same key."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from newsdrop import source_keys
from newsdrop.ports import ObjectStore, TooLarge
from newsdrop.rendering.writer import KEEP, Answer

log = logging.getLogger(__name__)


@dataclass
class Copy:
    """A compute (`SiteWriter.derive`): the file as the source bucket holds it when the copy runs, or
    None (delete the copy) when it is gone. Read when computed, like every other site object.

    A copy that found its object already right writes nothing, and so leaves no change for an
    older copy still in flight to fail on (the writer's module says why): that one lands last. Pages
    are derived again when the catalog changed meanwhile; a file is in no catalog, so the copy that
    writes looks at its source again once written (`moved`), and copies again if it changed."""

    key: str
    source: ObjectStore
    copied: str | None = None  # the ETag of the source object last read (None: there was none)

    def __call__(self) -> Answer:
        try:
            blob = self.source.get(self.key, max_bytes=source_keys.MAX_FILE_BYTES)
        except TooLarge as exc:  # parse rejected it with its reason: the copy published before stays
            log.warning("file too large to copy; kept as it was", extra={"key": self.key, "size": exc.size})
            return KEEP
        self.copied = None if blob is None else blob.etag
        return None if blob is None else blob.body

    def moved(self) -> bool:
        """Whether the source object is another than the one last copied (one HEAD)."""
        head = self.source.head(self.key)
        return (None if head is None else head.etag) != self.copied
