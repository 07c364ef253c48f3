"""Files the site serves as they are (images, PDFs): copied from the source bucket to the same key."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from newsdrop import source_keys
from newsdrop.ports import ObjectStore, TooLarge
from newsdrop.rendering.writer import KEEP, Answer, Fingerprinted

log = logging.getLogger(__name__)


@dataclass
class Copy:
    """A compute (`SiteWriter.derive`): the file as the source bucket holds it when the copy runs, or
    None (delete the copy) when it is gone. Read when computed, like every other site object; by
    the source's ETag first (a HEAD), so a copy already made from that object is kept without
    reading the file again (a repeated event, the same bytes uploaded again).

    A copy that found its object already right writes nothing, and so leaves no change for an
    older copy still in flight to fail on (the writer's module says why): that one lands last. Pages
    are derived again when the catalog changed meanwhile; a file is in no catalog, so the copy that
    writes looks at its source again once written (`moved`), and copies again if it changed."""

    key: str
    source: ObjectStore
    copied: str | None = None  # the ETag of the source object last read (None: there was none)
    relabel: bool = False  # the object read was newer than the one the copy is labelled with

    def __call__(self) -> Answer:
        self.relabel = False
        head = self.source.head(self.key)
        self.copied = None if head is None else head.etag
        if head is None:
            return None
        if (head.size or 0) > source_keys.MAX_FILE_BYTES:  # parse rejected it: the copy made before stays
            log.warning("file too large to copy; kept as it was", extra={"key": self.key, "size": head.size})
            return KEEP
        # The disposition too: a type that turns to downloads is copied again.
        return Fingerprinted(inputs=f"source {head.etag} {source_keys.file_disposition(self.key)}", render=self._read)

    def _read(self) -> bytes:
        try:
            blob = self.source.get(self.key, max_bytes=source_keys.MAX_FILE_BYTES)
        except TooLarge as exc:  # replaced by a larger one since the HEAD: its record is tried again
            raise RuntimeError(f"{self.key} grew past the limit while it was copied") from exc
        if blob is None:  # deleted since the HEAD: its record is tried again, and deletes the copy
            raise RuntimeError(f"{self.key} was deleted while it was copied")
        if blob.etag != self.copied:
            self.relabel = True  # newer than the HEAD the copy is labelled with: copied again, with its own label
        return blob.body

    def moved(self) -> bool:
        """Whether the copy must be made again: the source object is another than the one last
        copied (one HEAD), or the copy holds a newer one than its label says."""
        head = self.source.head(self.key)
        return self.relabel or (None if head is None else head.etag) != self.copied
