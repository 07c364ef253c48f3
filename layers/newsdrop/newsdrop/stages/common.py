"""What all stages share: batch processing with partial failures, and the site configuration."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from newsdrop import paths
from newsdrop.events import PublishingEvent, named_keys
from newsdrop.model import SiteConfig
from newsdrop.ports import Catalog, ConfigRecord, ObjectStore

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """A stage's answer to Lambda (`response`) and what it did (`counts`, published as metrics)."""

    response: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    changed_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Message:
    """One SQS message of a batch, as Lambda's event source mapping delivers it."""

    raw: Mapping[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.raw.get("messageId", ""))

    @functools.cached_property
    def json_body(self) -> Any:
        return json.loads(self.raw["body"])

    @property
    def receive_count(self) -> int:
        """How many times SQS has handed the message out (1: this is the first time)."""
        return int((self.raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)


def messages(event: dict[str, Any]) -> list[Message]:
    """The batch's records, each body parsed (`json_body`) once, whoever reads it first."""
    return [Message(raw) for raw in event.get("Records") or ()]


def process_batch(batch: Sequence[Message], handle_record: Callable[[Message], None]) -> dict[str, Any]:
    """Run `handle_record` on every message of the batch (`messages`); failed ones go back to the
    queue alone (ReportBatchItemFailures).

    Powertools' batch utility does the same, but importing it loads asyncio and the data classes of
    every event source Lambda has: about 35 ms of each cold start, a fifth of a handler's import."""
    failures = []
    for message in batch:
        try:
            handle_record(message)
        except Exception as exc:
            keys = _named_keys(message)
            log.exception(
                "message failed; it goes back to its queue",
                extra={"message_id": message.message_id, "keys": keys, "reason": f"{type(exc).__name__}: {exc}"[:500]},
            )
            failures.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failures}


def _named_keys(message: Message) -> list[str]:
    try:
        return named_keys(message.json_body)
    except (KeyError, TypeError, ValueError):  # a body that is not JSON names nothing
        return []


def run_all(tasks: Sequence[Callable[[], object]], workers: int) -> None:
    """Run every task, up to `workers` of them at once, for work that waits on the network: a
    thread waiting for an answer lets the others run. Once all have ended, the first failure (in
    the tasks' order) is raised, so none is left running behind the caller."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    futures = [_threads(workers).submit(task) for task in tasks]
    wait(futures)
    for future in futures:
        future.result()


@functools.cache
def _threads(workers: int) -> ThreadPoolExecutor:
    """The process's threads for `run_all` (kept: an execution environment serves many batches)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="io")


# A forked child has none of its parent's threads, while their executor would count them as idle.
os.register_at_fork(after_in_child=_threads.cache_clear)


def site_settings(catalog: Catalog) -> ConfigRecord:
    return or_defaults(catalog.get_config())


def or_defaults(stored: ConfigRecord | None) -> ConfigRecord:
    """The stored site settings; generation 0 (the defaults) before any `_config.yml` or template."""
    return stored if stored is not None else ConfigRecord(generation=0, config=SiteConfig())


@dataclass
class Artifacts:
    """Post artifacts as render and index read them: the bodies their events carried, else the
    artifact bucket's. A carried body is filed under the key it hashes to, so it is only ever read
    for the artifact the catalog names (an event from an older commit, or a forged one, is not)."""

    store: ObjectStore
    carried: dict[str, bytes] = field(default_factory=dict)

    def carry(self, event: PublishingEvent) -> None:
        if event.artifact:
            try:
                body = event.artifact.encode()
            except UnicodeEncodeError:  # no artifact of parse's (a lone surrogate): read the bucket's
                return
            self.carried[paths.artifact_key(event.key, body)] = body

    def read(self, key: str) -> bytes | None:
        body = self.carried.get(key)
        if body is None:
            blob = self.store.get(key)
            body = None if blob is None else blob.body
        return body
