"""Parse: the only stage that reads source files.

For each S3 change it reads the object once, normalises it, commits the post to the
catalog (only if the change's sequencer is newer than the stored one) and emits
PostUpserted / PostRemoved, or PostRejected with the reason. `_config.yml` and template
overrides (`_templates/`) change the site settings and emit SiteConfigured.

Two more messages arrive here: a post's one-time schedule firing (PostDue: a scheduled post
is published, an expired one leaves the front pages) and a page of a site-wide refresh
(RefreshRequested: re-read these posts under the current settings).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from newsdrop import catalog as catalog_plan
from newsdrop import events, lifecycle, model, paths, posts, source_keys
from newsdrop.events import Lane
from newsdrop.lifecycle import Phase
from newsdrop.model import Entry, Post, SiteConfig
from newsdrop.ports import (
    BusEvent,
    CommitStatus,
    ConfigRecord,
    Ports,
    PostRecord,
    PostState,
    Reads,
    TooLarge,
    generation_of,
    normalise_sequencer,
    revision,
    source_sequencer,
)
from newsdrop.rendering.writer import create_once
from newsdrop.stages.common import Message, Outcome, messages, or_defaults, process_batch, site_settings

log = logging.getLogger(__name__)

REPORTS_PREFIX = "reports/rejected/"
MAX_SETTINGS_RACES: Final = 5  # settings changing under one post this many times in a row is a fault
# The settings are one DynamoDB item, 400 KB at most: this leaves room for its other attributes.
MAX_SETTINGS_BYTES: Final = 360 * 1024
MIN_SCHEDULE_LEAD: Final = dt.timedelta(seconds=60)  # EventBridge Scheduler runs schedules to the minute
# Time a template override needs besides its trial render (theme.TRIAL_SECONDS): reading it,
# committing the settings, the events.
TEMPLATE_CHECK_MARGIN_S: Final = 5.0
# The time a post within the size limit may take to read and commit, which an invocation must have
# left to start one: the slowest shapes of Markdown at 256 KiB (long tables and lists) take 3.5 s
# of CPU on the machine the benchmarks run on, about 12 s at the parse function's 512 MB (Lambda
# gives a whole vCPU at 1,769 MB).
POST_READ_BUDGET_S: Final = 15.0
STATES: Final[dict[Phase, PostState]] = {
    Phase.DRAFT: "draft",
    Phase.SCHEDULED: "scheduled",
    Phase.FRONT: "front",
    Phase.ARCHIVED: "archived",
}


def report_key(source_key: str) -> str:
    """Where a rejection is reported: in the private artifact bucket, never on the public site."""
    return REPORTS_PREFIX + hashlib.sha256(source_key.encode()).hexdigest()[:32] + ".json"


def artifact_of(post: Post) -> tuple[str, bytes]:
    """The post's artifact: its key and its body (the post as JSON)."""
    body = json.dumps(post.to_json(), ensure_ascii=False, sort_keys=True).encode()
    return paths.artifact_key(post.key, body), body


def schedule_name(key: str, rev: str) -> str:
    """One schedule per post revision (EventBridge Scheduler names: at most 64 of [0-9A-Za-z-_.]).

    A newer revision cancels its predecessor's schedule by name; one that slips through only
    makes parse look at the post again, which changes nothing."""
    return f"post-{hashlib.sha256(key.encode()).hexdigest()[:24]}-{hashlib.sha256(rev.encode()).hexdigest()[:16]}"


def too_large(key: str, size: int, limit: int) -> str:
    """Why a source object past the size limit is rejected: a post, or a file of the site settings."""
    return f"{key if source_keys.is_site_key(key) else 'post'} is {size} bytes; the limit is {limit}"


@dataclass
class ParseBatch:
    ports: Ports
    site: ConfigRecord
    # Post records read with the settings at the start of the batch, each handed out once: a post that
    # the batch changes twice is read again the second time, after its first commit.
    read_ahead: dict[str, PostRecord | None] = field(default_factory=dict)
    emitted: list[BusEvent] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"published": 0, "removed": 0, "rejected": 0, "skipped": 0, "refreshed": 0, "files": 0}
    )
    # Seconds this invocation has left (Lambda's context); None where nothing stops it (a build).
    seconds_left: Callable[[], float] | None = None
    refused: set[tuple[str, str]] = field(default_factory=set)  # (key, URL claim) refused as taken
    # Waits for a URL that this batch's hand-overs ended, as (URL, key, revision refused): removed once
    # the batch's events are out (`after_events`), so that a delivery that dies before finds them again.
    waits_ended: dict[tuple[str, str, str], None] = field(default_factory=dict)
    # Posts read again by the batch's refresh pages, per generation: counted in the refresh's progress
    # once the events are out (`after_events`), so that a page delivered again after its PutEvents failed
    # is not counted twice (a page that fails before is counted by its next delivery).
    refreshed: dict[int, int] = field(default_factory=dict)
    rejected_keys: set[str] = field(default_factory=set)
    # Whether each key has a rejection report, as read with the settings (`Reads.rejected`) and kept
    # up to date since; a key not in it may have one.
    reported: dict[str, bool] = field(default_factory=dict)

    @property
    def config(self) -> SiteConfig:
        return self.site.config

    def reload(self) -> None:
        self.site = site_settings(self.ports.catalog)

    def handle(self, record: Message) -> None:
        for message in events.parse_messages(record.json_body):
            if isinstance(message, events.SourceChange):
                self.apply(message)
            elif isinstance(message, events.Due):
                self.due(message)
            else:
                self.refresh(message)

    # ------------------------------------------------------------------ source changes

    def apply(self, change: events.SourceChange) -> None:
        if source_keys.is_site_key(change.key):
            self.apply_site(change)
            return
        if source_keys.is_file_key(change.key):
            self.apply_file(change)
            return
        if not source_keys.is_post_key(change.key):
            log.info("ignored: neither a post nor a file the site serves", extra={"key": change.key})
            self.counts["skipped"] += 1
            return
        stored = (
            self.read_ahead.pop(change.key)
            if change.key in self.read_ahead
            else self.ports.catalog.get_post(change.key)
        )
        if stored is not None and source_sequencer(stored.sequencer) >= change.sequencer:
            self.redelivered(stored, change)
            return
        # A deletion is read like an upload: in a versioned bucket S3 also reports the removal of
        # an old version, or of a delete marker (an undelete), while the key has a current object.
        # What the key holds now decides; a missing object is the tombstone (`read`).
        self.read(change.key, change.sequencer, "live", stored)

    def apply_file(self, change: events.SourceChange) -> None:
        """A file served as it is (an image, a PDF): checked here, copied by render, which reads the
        source bucket as it is when it runs. Nothing of it goes into the catalog."""
        head = self.ports.source.head(change.key)
        refusal = paths.file_refusal(change.key, None if head is None else head.size)
        if refusal is not None and head is not None:
            self.reject(change.key, change.sequencer, refusal)
            return
        if refusal is None:  # a file refused when it was uploaded has no copy to remove when deleted
            self.emitted.append(events.file_changed(change.key, change.sequencer))
            self.counts["files"] += 1
        self.clear_report(change.key)  # a fixed or deleted file is no longer rejected

    def read(self, key: str, sequencer: str, lane: Lane, stored: PostRecord | None) -> None:
        """Read the source object and publish it as version `sequencer`."""
        self.make_time(key, POST_READ_BUDGET_S, "reading a post")
        try:
            blob = self.ports.source.get(key, max_bytes=self.ports.max_post_bytes)
        except TooLarge as exc:
            self.reject(key, sequencer, too_large(key, exc.size, exc.limit))
            return
        if blob is None:  # deleted since the event was sent: its removal event follows, or this is it
            if lane == "live":
                self.remove(key, sequencer, stored)
            return
        read_post = self.ports.read_post or posts.read_post
        for _ in range(MAX_SETTINGS_RACES):
            try:
                post = read_post(key, blob.body, self.config, max_bytes=self.ports.max_post_bytes)
            except posts.Rejected as exc:
                self.reject(key, sequencer, exc.reason)
                return
            if self.place(post, sequencer, lane, stored=stored) != "config_changed":
                return
            self.reload()  # the settings changed under us: read the post again under the new ones
            stored = self.ports.catalog.get_post(key)
        raise RuntimeError(f"{key}: the site settings kept changing while it was published")

    def place(
        self, post: Post, sequencer: str, lane: Lane, *, stored: PostRecord | None, at: dt.datetime | None = None
    ) -> CommitStatus:
        """Commit the post in the phase it is in now (or at `at`, a schedule's time, if later)."""
        now = self.ports.clock.now()
        if at is not None and at > now:
            now = at  # a schedule never fires early, but clocks differ: trust the schedule's time
        phase = lifecycle.phase(post, self.config, now)
        due = lifecycle.next_change(post, self.config, phase)
        rev = revision(sequencer, self.site.generation, phase)
        artifact, body = artifact_of(post)
        create_once(self.ports.artifacts, artifact, body, content_type="application/json")
        if due is not None and (stored is None or stored.sequencer < rev):
            # Before the commit, so a committed post never lacks its schedule; a schedule left
            # by a commit that then loses only makes parse look at the post once more. The
            # scheduler is not asked for a moment it may already have passed when it hears of it.
            fire = max(due, now + MIN_SCHEDULE_LEAD)
            self.ports.scheduler.schedule(schedule_name(post.key, rev), fire, events.due_detail(post.key, rev, due))
        record = PostRecord(
            key=post.key,
            sequencer=rev,
            live=phase.public,
            url=post.url,
            sort=model.sort_key(post.date, post.key),
            artifact=artifact,
            lists=tuple(lifecycle.lists(post, phase)),
            entry=Entry.of(post),
            state=STATES[phase],
            due=due.isoformat() if due is not None else "",
            aliases=tuple(post.redirect_from),
        )
        return self.commit(record, lane, stored, artifact=body)

    def remove(self, key: str, sequencer: str, stored: PostRecord | None) -> None:
        # A tombstone depends on no setting: its upload-or-delete sequencer alone orders it.
        record = PostRecord(
            key=key, sequencer=revision(sequencer, self.site.generation, 0), live=False, state="deleted"
        )
        self.commit(record, "live", stored)

    def commit(
        self, record: PostRecord, lane: Lane, stored: PostRecord | None, *, artifact: bytes | None = None
    ) -> CommitStatus:
        """`stored`: the record as read for this change (the catalog plans against it); `artifact`: the
        body of the record's artifact, which a single publish's event carries (`events.for_record`)."""
        generation = self.site.generation if record.state != "deleted" else None
        result = self.ports.catalog.commit(record, generation=generation, stored=stored)
        extra = {"key": record.key, "sequencer": record.sequencer}
        if result.status == "config_changed":
            return result.status
        if result.status == "url_taken":
            catalog = self.ports.catalog
            catalog.wait_for_url(record.url, record.key, record.sequencer)
            if catalog.url_owner(record.url) in (None, record.key):
                # The holder let the URL go after this commit was refused, and may have looked for
                # posts waiting for it before this one's wait was written: take the URL now.
                return self.commit(record, lane, catalog.get_post(record.key))
            self.refused.add((record.key, catalog_plan.url_claim(record.url)))
            self.reject(record.key, record.sequencer, f"permalink {record.url} is already used by {result.url_owner}")
            return result.status
        if result.status == "too_large":
            self.reject(record.key, record.sequencer, result.reason)
            return result.status
        if result.status == "stale":
            log.info("stale change ignored", extra=extra)
            self.counts["skipped"] += 1
            return result.status
        assert result.current is not None
        if result.status == "duplicate":
            # Another delivery of this change committed it while this one ran, and may have died before
            # its event went out (a message delivered twice, side by side): re-emit, as `redelivered`
            # does. A refresh that changed nothing still re-renders too (a template may have changed).
            self.emitted.append(events.for_record(result.current, lane))
            self.hand_over(result.current)
            self.clear_report(record.key, redelivered=source_sequencer(record.sequencer))
            return result.status
        replaced = result.previous
        created = result.current.live and (replaced is None or not replaced.live)
        carried = artifact if self.ports.carry_artifacts and result.current.artifact == record.artifact else None
        self.emitted.append(events.for_record(result.current, lane, created=created, artifact=carried))
        self.hand_over(result.current)
        if replaced is not None:
            if replaced.due:
                self.ports.scheduler.cancel(schedule_name(record.key, replaced.sequencer))
            if replaced.artifact and replaced.artifact != record.artifact:
                self.ports.artifacts.delete(replaced.artifact)
        self.counts["published" if record.live else "removed"] += 1
        self.clear_report(record.key)  # a fixed or deleted post is no longer rejected
        log.info("committed", extra={**extra, "state": record.state, "url": result.current.url})
        return result.status

    def hand_over(self, current: PostRecord) -> None:
        """When this commit let a URL go, read again the posts refused it while this one held it, as
        a fresh build of the sources would publish one of them there (first come, first served).

        A post refused again stays waiting; any other outcome ends its wait, once the batch's events
        are out. A batch that dies before is delivered again and hands over again (`redelivered`
        too): a post it committed then is found committed since its refusal, holding the URL, and its
        event is sent again (render and index are idempotent)."""
        left = current.previous_url
        claim = catalog_plan.url_claim(left) if left else ""
        if not claim or (current.live and claim == catalog_plan.url_claim(current.url)):
            return
        # Each wait names the revision refused: an upload's, a refresh's or a schedule's.
        for key, refused in sorted(self.ports.catalog.waiting_for_url(left).items()):
            if (left, key, refused) in self.waits_ended:
                continue  # handed over earlier in this batch
            if key != current.key:
                stored = self.ports.catalog.get_post(key)
                if stored is None or stored.sequencer < refused:  # nothing committed since: read it again
                    self.refused.discard((key, claim))
                    log.info("read again: the URL it was refused is free", extra={"key": key, "url": left})
                    self.read(key, source_sequencer(refused), "live", stored)
                    if (key, claim) in self.refused:
                        continue
                elif stored.live and catalog_plan.url_claim(stored.url) == claim:
                    self.emitted.append(events.for_record(stored))
            self.waits_ended[left, key, refused] = None

    def after_events(self) -> None:
        """What the batch's events being out settles: the waits its hand-overs ended, and the refresh
        pages it read (counted in their job's progress)."""
        for url, key, refused in self.waits_ended:
            self.ports.catalog.stop_waiting(url, key, refused)
        for generation, count in self.refreshed.items():
            self.ports.catalog.count_refresh(generation, refreshed=count)

    def redelivered(self, stored: PostRecord, change: events.SourceChange) -> None:
        if source_sequencer(stored.sequencer) == change.sequencer:
            # At-least-once delivery: the first attempt may have died before its event went out.
            # Re-emitting is safe because render and index are idempotent.
            self.emitted.append(events.for_record(stored))
            self.hand_over(stored)
            self.clear_report(change.key, redelivered=change.sequencer)
            log.info("duplicate change: event re-emitted", extra={"key": change.key, "sequencer": change.sequencer})
        else:
            log.info("stale change ignored", extra={"key": change.key, "sequencer": change.sequencer})
        self.counts["skipped"] += 1

    def reject(self, key: str, sequencer: str, reason: str) -> None:
        report = {"key": key, "sequencer": sequencer, "reason": reason}
        # Noted before it is written, so that no report is ever left without its note; noted again
        # even if the batch read one: another environment may have fixed the key and forgotten it since.
        self.ports.catalog.note_rejection(key)
        self.reported[key] = True
        self.ports.artifacts.put(
            report_key(key),
            json.dumps(report, ensure_ascii=False).encode(),
            content_type="application/json; charset=utf-8",
        )
        self.emitted.append(events.rejected(key, sequencer, reason))
        self.counts["rejected"] += 1
        self.rejected_keys.add(key)
        # The source object stays where it is: a rejection never deletes or rewrites input.
        log.warning("rejected", extra={"key": key, "sequencer": sequencer, "reason": reason})

    def clear_report(self, key: str, *, redelivered: str = "") -> None:
        """Delete the key's rejection report, if it may have one: most keys were never rejected, and
        the batch read which were (a request less for a publish, and one less before its event).

        `redelivered`: the source version of a change committed before, delivered again (its first
        delivery may have died before the report went); a report of a newer upload then stays."""
        if not self.reported.get(key, True):
            return
        if redelivered:
            blob = self.ports.artifacts.get(report_key(key))
            rejected = "" if blob is None else source_sequencer(str(json.loads(blob.body).get("sequencer", "")))
            if normalise_sequencer(rejected) > normalise_sequencer(redelivered):
                return
        self.ports.artifacts.delete(report_key(key))
        self.ports.catalog.clear_rejection(key)  # after the report: a note may outlive it, not the reverse
        self.reported[key] = False

    # ------------------------------------------------------------------ schedules and refreshes

    def due(self, message: events.Due) -> None:
        """A post's schedule fired: commit the phase it is in now."""
        for _ in range(MAX_SETTINGS_RACES):
            stored = self.ports.catalog.get_post(message.key)
            if stored is None or stored.state == "deleted" or not stored.artifact:
                log.info("schedule of a removed post ignored", extra={"key": message.key})
                return
            if generation_of(stored.sequencer) != self.site.generation:
                # Read under older settings: read it again from its source (a refresh would too).
                self.read(message.key, source_sequencer(stored.sequencer), "live", stored)
                return
            blob = self.ports.artifacts.get(stored.artifact)
            if blob is None:
                raise RuntimeError(f"artifact {stored.artifact} of {message.key} is missing")
            post = Post.from_json(json.loads(blob.body))
            at = message.at if stored.sequencer == message.revision else None
            if self.place(post, source_sequencer(stored.sequencer), "live", stored=stored, at=at) != "config_changed":
                return
            self.reload()
        raise RuntimeError(f"{message.key}: the site settings kept changing while its schedule ran")

    def refresh(self, message: events.Refresh) -> None:
        """Re-read posts under the current settings; one already read under them is left alone."""
        for key in message.keys:
            if not source_keys.is_post_key(key):
                continue
            stored = self.ports.catalog.get_post(key)
            # No record: its upload's event is on its way, or it was rejected (and stays so until
            # it is uploaded again). Deleted: a newer upload's event is on its way. Or already current.
            if stored is None or stored.state == "deleted":
                continue
            if generation_of(stored.sequencer) >= self.site.generation:
                # Read already, perhaps by this page's earlier delivery, which may have died before
                # its events went out or it handed over a URL the post let go: its event again, if
                # read under this page's settings (a newer refresh's page sends its own).
                if generation_of(stored.sequencer) == message.generation:
                    self.emitted.append(events.for_record(stored, "bulk"))
                self.hand_over(stored)
                continue
            self.rejected_keys.discard(key)
            self.read(key, source_sequencer(stored.sequencer), "bulk", stored)
            if key in self.rejected_keys:
                # The source was re-uploaded broken, and the last good version stays online: its pages
                # are derived again, with the new theme and settings, where they are.
                self.emitted.append(events.for_record(stored, "bulk"))
        self.counts["refreshed"] += len(message.keys)
        self.refreshed[message.generation] = self.refreshed.get(message.generation, 0) + len(message.keys)

    # ------------------------------------------------------------------ site settings

    def apply_site(self, change: events.SourceChange) -> None:
        """`_config.yml` or a template override: a new generation of the site settings."""
        change_to: Callable[[SiteConfig], SiteConfig] | None = None
        for _ in range(MAX_SETTINGS_RACES):
            stored = site_settings(self.ports.catalog)
            applied = stored.sources.get(change.key, "")
            if applied >= change.sequencer:
                if applied == change.sequencer:  # redelivered: its event may not have gone out, nor its report
                    self.emitted.append(events.site_configured(stored.generation))
                    self.clear_report(change.key, redelivered=change.sequencer)
                self.counts["skipped"] += 1
                return
            if change_to is None:  # read and checked once, however often the settings move under us
                try:
                    change_to = self.site_change(change)
                except posts.Rejected as exc:
                    self.reject(change.key, change.sequencer, exc.reason)
                    return
            config = change_to(stored.config)
            size = settings_bytes(config)
            if size > MAX_SETTINGS_BYTES:
                reason = (
                    f"with {change.key} the site settings (_config.yml and every template override together) "
                    f"would take {size} bytes; the limit is {MAX_SETTINGS_BYTES}: shrink or remove an override"
                )
                self.reject(change.key, change.sequencer, reason)
                return
            record = ConfigRecord(
                generation=stored.generation + 1,
                config=config,
                sources={**stored.sources, change.key: change.sequencer},
            )
            if self.ports.catalog.put_config(record):
                self.site = record
                self.emitted.append(events.site_configured(record.generation))
                self.clear_report(change.key)  # a fixed settings file is no longer rejected
                log.info(
                    "site settings changed",
                    extra={"key": change.key, "sequencer": change.sequencer, "generation": record.generation},
                )
                return
        raise RuntimeError(f"{change.key}: the site settings kept changing under this change")

    def site_change(self, change: events.SourceChange) -> Callable[[SiteConfig], SiteConfig]:
        """Read and check the changed file; returns what it makes of whichever settings are current."""
        # Deletions too: the file may still be there (an old version went) or be back (an undelete).
        try:
            blob = self.ports.source.get(change.key, max_bytes=self.ports.max_post_bytes)
        except TooLarge as exc:
            raise posts.Rejected(too_large(change.key, exc.size, exc.limit)) from exc
        if source_keys.is_config_key(change.key):
            fresh = SiteConfig() if blob is None else posts.read_config(blob.body, max_bytes=self.ports.max_post_bytes)
            return lambda current: fresh.with_templates(current.templates)
        name = source_keys.template_name(change.key)
        if blob is not None:
            from newsdrop.rendering import theme  # as posts.read_template does: Jinja only when a template comes

            self.make_time(change.key, theme.TRIAL_SECONDS + TEMPLATE_CHECK_MARGIN_S, "a template check")
        source = None if blob is None else posts.read_template(change.key, blob.body)

        def with_template(current: SiteConfig) -> SiteConfig:
            templates = dict(current.templates)
            if source is None:
                templates.pop(name, None)
            else:
                templates[name] = source
            return current.with_templates(tuple(sorted(templates.items())))

        return with_template

    def make_time(self, key: str, needed: float, what: str) -> None:
        """A step that may take `needed` seconds starts only if the invocation has them left: otherwise
        its record fails alone and is retried in another invocation (a batch of slow posts or of
        template overrides), rather than the function timing out and the whole batch with it."""
        if self.seconds_left is None:
            return
        left = self.seconds_left()
        if left < needed:
            raise OutOfTime(f"{key}: {left:.1f} s left, under the {needed:.0f} s {what} may take; retried")


class OutOfTime(RuntimeError):
    """Not enough of the invocation left for a step: the record is retried, not rejected."""


def settings_bytes(config: SiteConfig) -> int:
    return len(config.to_text().encode())


def changed_keys(batch: list[Message]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The source keys that the batch's source changes name, and those its refresh pages name (a
    record that does not parse names none: the batch reports it when it handles it)."""
    keys: list[str] = []
    refreshed: list[str] = []
    for message in batch:
        try:
            changes = events.parse_messages(message.json_body)
        except (KeyError, TypeError, ValueError):
            continue
        for change in changes:
            if isinstance(change, events.SourceChange):
                keys.append(change.key)
            elif isinstance(change, events.Refresh):
                refreshed.extend(change.keys)
    return tuple(dict.fromkeys(keys)), tuple(dict.fromkeys(refreshed))


def run(event: dict[str, Any], ports: Ports, *, seconds_left: Callable[[], float] | None = None) -> Outcome:
    # The settings, the records of the batch's posts and which of its keys have a rejection report,
    # in one request: not one and then one or two per post.
    read = messages(event)
    keys, refreshed = changed_keys(read)
    posts = tuple(key for key in keys if source_keys.is_post_key(key))
    # A refresh page's posts too: which have a report (a site-wide refresh would otherwise delete,
    # for each post it reads again, a report the post cannot have, and forget its note).
    keys = tuple(dict.fromkeys(keys + refreshed))
    found = ports.catalog.read(Reads(config=True, posts=posts, rejected=keys))
    batch = ParseBatch(
        ports=ports,
        site=or_defaults(found.config),
        read_ahead=dict(found.posts),
        seconds_left=seconds_left,
        reported={key: key in found.rejected for key in keys},
    )
    response = process_batch(read, batch.handle)
    # One PutEvents call per ten events for the whole batch. If it fails, the whole batch is
    # retried: every record is then a duplicate whose event is re-emitted, so nothing is lost.
    ports.bus.publish(batch.emitted)
    batch.after_events()
    return Outcome(response=response, counts=batch.counts)
