"""The parse function starts a step that may take seconds (a template override's trial render, reading
a large post) only with the time for it left; otherwise the record is retried in another invocation,
rather than the function timing out and failing its whole batch."""

from __future__ import annotations

import functools

import pytest

from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.rendering import theme
from newsdrop.stages import parse
from newsdrop.stages.common import site_settings
from tests.unit.test_template_overrides import GOOD


def test_an_override_the_invocation_has_no_time_left_to_check_is_retried_not_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lambda stops a function at its timeout, failing the whole batch: an override whose trial render
    # might not finish in the time left fails alone, and is checked again in another invocation.
    pipeline = InProcessPipeline()
    left = [parse.TEMPLATE_CHECK_MARGIN_S + theme.TRIAL_SECONDS - 1]
    monkeypatch.setattr(pipeline.queues["parse"], "stage", functools.partial(parse.run, seconds_left=lambda: left[0]))
    pipeline.upload("_templates/post.html", GOOD.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    assert site_settings(pipeline.catalog).config.templates == ()
    assert len(pipeline.dead_letters["parse"]) == 1  # every attempt lacked the time, so it went to the DLQ

    left[0] = parse.TEMPLATE_CHECK_MARGIN_S + theme.TRIAL_SECONDS + 1  # redriven, with the time it needs
    pipeline.upload("_templates/post.html", GOOD.encode())
    pipeline.drain()
    assert [name for name, _ in site_settings(pipeline.catalog).config.templates] == ["post.html"]


def test_a_post_the_invocation_has_no_time_left_to_read_is_retried_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same for posts: one within the size limit may take seconds to read on Lambda's CPU share.
    pipeline = InProcessPipeline()
    left = [parse.POST_READ_BUDGET_S - 1]
    monkeypatch.setattr(pipeline.queues["parse"], "stage", functools.partial(parse.run, seconds_left=lambda: left[0]))
    post = b"---\ntitle: T\ndate: 2024-05-20 10:00\n---\nBody.\n"
    pipeline.upload("_posts/2024-05-20-late.md", post)
    pipeline.drain()
    assert pipeline.rejections == [] and pipeline.catalog.entries("all") == []
    assert len(pipeline.dead_letters["parse"]) == 1

    left[0] = parse.POST_READ_BUDGET_S + 1
    pipeline.upload("_posts/2024-05-20-late.md", post)
    pipeline.drain()
    assert [entry.key for entry in pipeline.catalog.entries("all")] == ["_posts/2024-05-20-late.md"]
