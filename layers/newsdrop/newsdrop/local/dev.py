"""`newsdrop dev`: moto's server, the template's resources, a poller per function and the site server.

Everything runs in this process, so the local stack can mend moto where it is not AWS
(see moto_patches) and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import shlex
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import newsdrop
from newsdrop import clock, events
from newsdrop.adapters.aws import DynamoCatalog
from newsdrop.envelopes import REGION
from newsdrop.local import moto_patches
from newsdrop.local.scheduler import ScheduleRunner, put_on_bus
from newsdrop.local.siteserver import SiteServer, mounted_at, security_headers
from newsdrop.local.sources import source_files, unreadable
from newsdrop.local.stack import Names, Pump, Stack, client, describe, provision, queue_url
from newsdrop.model import SiteConfig
from newsdrop.ports import DEFAULT_MAX_POST_BYTES, RefreshJob
from newsdrop.posts import Rejected, read_config

log = logging.getLogger(__name__)

EVENTS_DLQ = "EventsDLQ"  # what EventBridge could not deliver to a rule's target
SCHEDULE_DLQ = "ScheduleDLQ"  # what EventBridge Scheduler could not put on the bus
EVENT_TARGETS = "(EventBridge targets)"
POST_SCHEDULES = "(post schedules)"
BUS = "PublishingBus"
# What parse's schedules put on the bus (`EventBridgeScheduler.schedule`'s EventBridgeParameters).
SCHEDULE_TARGET = {"Source": events.SCHEDULER_SOURCE, "DetailType": events.POST_DUE}

# Lambda waits for the queue's visibility timeout (180 s in the template) before it retries a
# failed record; locally that would hide a poison message for minutes, so retry sooner.
LOCAL_RETRY_AFTER = 5


def project_root(start: Path | None = None) -> Path:
    """The folder with template.yaml: the current folder or a parent, else the package's own checkout."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file() and (folder / "functions").is_dir():
            return folder
    checkout = Path(newsdrop.__file__).resolve().parents[3]
    if (checkout / "template.yaml").is_file():
        return checkout
    raise FileNotFoundError("template.yaml not found: run newsdrop from the project folder")


def address_warning(posts: Path, site_port: int) -> str | None:
    """What to say when the posts' `url:` (the address of canonical links, the feed's and the
    sitemaps') is this machine but not where the stack serves the site (plain HTTP, `site_port`):
    every such link would lead nowhere. An address elsewhere is the deployed site's, and meant."""
    config = posts / "_config.yml"
    url = SiteConfig().url
    if config.is_file():
        try:
            url = read_config(config.read_bytes(), max_bytes=DEFAULT_MAX_POST_BYTES).url
        except Rejected:
            return None  # the stack reports a settings file it cannot read, as it does any rejection
    parts = urllib.parse.urlsplit(url)
    if not _this_machine(parts.hostname):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # no port at all (99999): no link leads anywhere
        port = None
    if parts.scheme == "http" and port == site_port:
        return None
    where = f"{config} sets" if config.is_file() else "with no _config.yml, the site has"
    return (
        f"note: {where} url: {url}, but the stack serves the site over http on port {site_port}: canonical"
        f" links, the feed's and the sitemaps' lead to {url}. Set url: to the stack's address to follow them."
    )


def _this_machine(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def url_host(host: str) -> str:
    """The host of a URL that reaches, from this machine, a server listening on `host`: one on every
    address (`--host 0.0.0.0`) at the loopback address, which the banner's commands can use."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def use_local_credentials() -> None:
    # moto accepts any credentials; never let a developer's real profile near the local stack.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.pop("AWS_PROFILE", None)


def upload(
    files: Iterable[tuple[str, Path]], bucket: str, endpoint: str | None, refused: list[tuple[str, str]]
) -> Iterator[str]:
    """Upload each file, yielding its key; one gone or unreadable since it was listed is reported into
    `refused` and the rest go on."""
    s3 = client("s3", endpoint)
    for key, path in files:
        try:
            body = path.open("rb")
        except OSError as exc:
            refused.append((key, unreadable(exc)))
            continue
        with body:  # streamed: a file of any size, in chunks
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        yield key


@dataclass
class DevStack:
    root: Path
    names: Names = field(default_factory=Names)
    host: str = "127.0.0.1"
    s3_port: int = 4566
    site_port: int = 8080
    retry_after: int = LOCAL_RETRY_AFTER
    wait_seconds: int = 1
    idle_pause: float = 0.1
    concurrency: int = 1  # pollers per function: Lambda runs several batches of one function at once
    clock: clock.Clock | None = None  # the functions' and schedules' time (None: the system clock)
    tick_seconds: float = 60.0  # the scheduled functions' rate in template.yaml (rate(1 minute))

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.stack: Stack | None = None
        self.pump: Pump | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{url_host(self.host)}:{self.s3_port}"

    @property
    def site_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.site_port}/"

    def start(self) -> None:
        use_local_credentials()
        moto_patches.install()
        self.moto = moto_patches.serialised_server(self.host, self.s3_port)
        self.moto.start()
        if self.s3_port == 0:
            self.s3_port = int(self.moto.get_host_and_port()[1])
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        self.stack = provision(self.root, self.names, endpoint=self.endpoint)
        self.pump = Pump(self.stack, endpoint=self.endpoint, retry_after=self.retry_after, in_process=True)
        from newsdrop.adapters.aws import S3Store

        self.site = SiteServer(
            S3Store(self.names.site_bucket),
            self.host,
            self.site_port,
            security_headers(self.stack.template),
            base=mounted_at(DynamoCatalog(self.names.table)),
        )
        self.site_port = self.site.port
        self.site.start()
        clock.install(self.clock)  # the functions run in this process and read the process clock
        self.schedules = ScheduleRunner(self.stack, endpoint=self.endpoint)
        for logical, spec in self.stack.functions.items():
            for source in spec.sources:
                for n in range(self.concurrency):
                    name = f"{logical}-{source.queue}-{n}"
                    step = functools.partial(self.pump.step_source, logical, source, wait=0)
                    thread = threading.Thread(target=self._poll, args=(name, step), name=name, daemon=True)
                    thread.start()
                    self._threads.append(thread)
        pump = self.pump

        def tick() -> int:
            pump.tick()
            return 0  # then wait for the next tick

        timers: list[tuple[str, Callable[[], int], float]] = [
            ("schedules", self.schedules.run_due, 1.0),
            ("ticks", tick, self.tick_seconds),
        ]
        for name, every, pause in timers:
            thread = threading.Thread(target=self._poll, args=(name, every, pause), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _poll(self, name: str, step: Callable[[], int], pause: float | None = None) -> None:
        while not self._stop.is_set():
            try:
                # Short polling with a pause: a long poll would hold the serialised moto server.
                if step() == 0:
                    self._stop.wait(self.idle_pause if pause is None else pause)
            except Exception:  # a poller must outlive any one failure, as Lambda's pollers do
                if self._stop.is_set():
                    return
                log.exception("poller %s failed; retrying", name)
                time.sleep(1)

    def stop(self) -> None:
        self._stop.set()
        # One deadline for all pollers (they are daemon threads): each finishes the batch it holds,
        # and a batch that takes longer is abandoned, as Lambda abandons one at shutdown.
        deadline = time.monotonic() + self.wait_seconds + 5
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.site.stop()
        self.moto.stop()
        clock.install(None)

    def banner(self, posts: str | None = None) -> str:
        """What the stack serves, and commands to try on it (`posts`: the folder it was started with)."""
        n = self.names
        return "\n".join(
            [
                "newsdrop local stack is running (Ctrl-C to stop)",
                f"  site:            {self.site_url}",
                f"  S3 endpoint:     {self.endpoint}   (any access key works)",
                f"  source bucket:   {n.source_bucket}",
                f"  site bucket:     {n.site_bucket}",
                f"  artifact bucket: {n.artifact_bucket}",
                f"  catalog table:   {n.table}",
                "  try:",
                f"    aws --endpoint-url {self.endpoint} s3 cp post.md s3://{n.source_bucket}/_posts/2024-05-23-my-post.md",
                f"    .venv/bin/newsdrop publish {shlex.quote(posts) if posts else 'DIR'} --endpoint {self.endpoint}",
                f"    .venv/bin/newsdrop status --endpoint {self.endpoint}",
            ]
        )


@dataclass(frozen=True)
class QueueStatus:
    function: str
    waiting: int
    in_flight: int
    dead: int


def queue_status(root: Path, names: Names, endpoint: str) -> list[QueueStatus]:
    stack = describe(root, names)
    sqs = client("sqs", endpoint)

    def counts(logical: str) -> tuple[int, int]:
        attrs = sqs.get_queue_attributes(
            QueueUrl=queue_url(stack, logical, endpoint),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    rows = []
    for logical, spec in sorted(stack.functions.items()):
        for source in spec.sources:
            waiting, in_flight = counts(source.queue)
            dlq = stack.dlq_of(source.queue)
            dead = sum(counts(dlq)) if dlq else 0
            rows.append(QueueStatus(f"{logical} ({source.queue})", waiting, in_flight, dead))
    if EVENTS_DLQ in stack.resources:
        rows.append(QueueStatus(EVENT_TARGETS, 0, 0, sum(counts(EVENTS_DLQ))))
    if SCHEDULE_DLQ in stack.resources:
        rows.append(QueueStatus(POST_SCHEDULES, 0, 0, sum(counts(SCHEDULE_DLQ))))
    return rows


def refresh_progress(names: Names, endpoint: str) -> RefreshJob | None:
    """The latest site-wide refresh, from the catalog table."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint  # the catalog adapter reads the endpoint from boto3's settings
    return DynamoCatalog(names.table).refresh_job()


def rejections(names: Names, endpoint: str, limit: int = 10) -> list[dict[str, Any]]:
    """The latest rejection reports (key and reason), newest first."""
    s3 = client("s3", endpoint)
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names.artifact_bucket, Prefix="reports/rejected/"):
        items.extend(page.get("Contents", []))
    items.sort(key=lambda i: i["LastModified"], reverse=True)
    reports = []
    for item in items[:limit]:
        body = s3.get_object(Bucket=names.artifact_bucket, Key=item["Key"])["Body"].read()
        report = json.loads(body)
        report["at"] = item["LastModified"].isoformat()
        reports.append(report)
    return reports


# Sends a dead letter on; False when it has nowhere to go (it then stays where it is).
Deliver = Callable[[dict[str, Any]], bool]
QueueOf = Callable[[dict[str, Any]], str | None]  # the logical name of a dead letter's queue, if it has one


@dataclass(frozen=True)
class Redriven:
    sent: dict[str, int]  # per function, EVENT_TARGETS and POST_SCHEDULES: messages sent on
    kept: dict[str, int]  # per dead-letter queue: messages left there (nowhere to send them)


def redrive(root: Path, names: Names, endpoint: str | None) -> Redriven:
    """Move every message in a function's DLQ back to its queue, every event EventBridge could
    not deliver to the queue its `TARGET_ARN` attribute names (EventBridge sets it), and every
    post schedule the scheduler could not deliver onto the bus, as the scheduler would have put
    it; count what stays (events naming no queue, and what is not a schedule's event)."""
    stack = describe(root, names)
    sqs = client("sqs", endpoint)
    sent: dict[str, int] = {}
    kept: dict[str, int] = {}
    for logical, spec in stack.functions.items():
        for event_source in spec.sources:
            dlq = stack.dlq_of(event_source.queue)
            if not dlq:
                continue
            back = _to_queue(sqs, stack, endpoint, functools.partial(_always, event_source.queue))
            moved, _ = _move(sqs, queue_url(stack, dlq, endpoint), back)
            sent[logical] = sent.get(logical, 0) + moved
    if EVENTS_DLQ in stack.resources:
        queues = {arn: logical for logical, arn in stack.resolver.arns.items() if arn.startswith("arn:aws:sqs:")}

        def target_of(message: dict[str, Any]) -> str | None:
            arn = message.get("MessageAttributes", {}).get("TARGET_ARN", {}).get("StringValue", "")
            return queues.get(arn)

        sent[EVENT_TARGETS], kept[EVENTS_DLQ] = _move(
            sqs, queue_url(stack, EVENTS_DLQ, endpoint), _to_queue(sqs, stack, endpoint, target_of)
        )
    if SCHEDULE_DLQ in stack.resources:
        bus = _to_bus(client("events", endpoint), stack.resolver.physical[BUS])
        sent[POST_SCHEDULES], kept[SCHEDULE_DLQ] = _move(sqs, queue_url(stack, SCHEDULE_DLQ, endpoint), bus)
    return Redriven(sent, {name: count for name, count in kept.items() if count})


def _always(queue: str, message: dict[str, Any]) -> str:
    return queue


def _to_queue(sqs: Any, stack: Stack, endpoint: str | None, queue_of: QueueOf) -> Deliver:
    """To the queue (its logical name) `queue_of` names for the message, if it names one."""

    def deliver(message: dict[str, Any]) -> bool:
        queue = queue_of(message)
        if queue is None:
            return False
        sqs.send_message(QueueUrl=queue_url(stack, queue, endpoint), MessageBody=message["Body"])
        return True

    return deliver


def _to_bus(events_client: Any, bus: str) -> Deliver:
    """A schedule's dead letter is its target's input, the PostDue detail: onto the bus as the
    scheduler puts it (parse then commits the post's phase as of now, as for any late schedule)."""

    def deliver(message: dict[str, Any]) -> bool:
        try:
            events.parse_messages({"detail-type": events.POST_DUE, "detail": json.loads(message["Body"])})
        except (ValueError, events.MalformedEvent):
            return False  # not a schedule's event: left for a person to read
        return not put_on_bus(events_client, bus, SCHEDULE_TARGET, message["Body"])

    return deliver


def _move(sqs: Any, source: str, deliver: Deliver) -> tuple[int, int]:
    """Send each message of a queue on, deleting it here; leave those with nowhere to go.
    Returns (sent, kept)."""
    sent, kept, seen = 0, 0, set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=source,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,  # the kept ones stay out of this loop's way
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return sent, kept
        for message in fresh:
            seen.add(message["MessageId"])
            if not deliver(message):
                kept += 1
                continue
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            sent += 1


__all__ = [
    "EVENT_TARGETS",
    "POST_SCHEDULES",
    "DevStack",
    "Redriven",
    "project_root",
    "queue_status",
    "redrive",
    "refresh_progress",
    "rejections",
    "source_files",
    "upload",
]
