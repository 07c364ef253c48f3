"""Files the site serves as they are (images, PDFs): copied from the source bucket to the same key."""

from __future__ import annotations

import logging

from newsdrop import source_keys
from newsdrop.ports import ObjectStore, TooLarge
from newsdrop.rendering.writer import KEEP, Answer, Compute

log = logging.getLogger(__name__)


def copy(key: str, source: ObjectStore) -> Compute:
    """The file as the source bucket holds it when the copy runs, or None (delete it) when it is gone.

    Read when computed, like every other site object, so copies of one key converge whatever the
    order of its events: the last one to run copies what the bucket holds last."""

    def compute() -> Answer:
        try:
            blob = source.get(key, max_bytes=source_keys.MAX_FILE_BYTES)
        except TooLarge as exc:  # parse rejected it with its reason: the copy published before stays
            log.warning("file too large to copy; kept as it was", extra={"key": key, "size": exc.size})
            return KEEP
        return None if blob is None else blob.body

    return compute
