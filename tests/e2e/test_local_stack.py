"""The local stack end to end: upload, update and delete through the S3 endpoint; read the site over HTTP
and in headless Chromium."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.e2e.conftest import DevStack

POST = """---
title: "{title}"
date: {date} 10:00:00
categories: e2e
tags: [测试, e2e]
---

{body}
"""
KEY = "_posts/2024-06-01-e2e-story.md"
URL = "/e2e/2024/06/01/e2e-story.html"


def post(title: str, body: str, date: str = "2024-06-01") -> str:
    return POST.format(title=title, body=body, date=date)


def upload(stack: DevStack, key: str, text: str) -> None:
    stack.s3().put_object(Bucket="newsdrop-source", Key=key, Body=text.encode())


def test_sample_site_is_served_like_cloudfront(dev_stack: DevStack) -> None:
    status, body = dev_stack.wait_for("/", lambda s, b: s == 200 and "欢迎使用 newsdrop" in b)
    assert '<html lang="zh-CN">' in body
    dev_stack.wait_for("/markets/", lambda s, b: s == 200 and "北向资金" in b)
    status, headers, body = dev_stack.get("/markets/")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    dev_stack.wait_for("/no/such/page.html", lambda s, b: s == 404 and "找不到页面" in b)
    status, headers, body = dev_stack.get("/no/such/page.html")
    assert status == 404 and "404" in body and headers["Content-Type"].startswith("text/html")
    status, headers, _ = dev_stack.get("/feed.xml")
    assert status == 200 and headers["Content-Type"] == "application/atom+xml; charset=utf-8"


def test_upload_update_delete_reach_the_site(dev_stack: DevStack) -> None:
    upload(dev_stack, KEY, post("第一版 first draft", "正文一。"))
    dev_stack.wait_for(URL, lambda s, b: s == 200 and "第一版 first draft" in b)
    dev_stack.wait_for("/", lambda s, b: URL in b)

    upload(dev_stack, KEY, post("第二版 second take", "正文二。"))
    _, page = dev_stack.wait_for(URL, lambda s, b: s == 200 and "第二版 second take" in b)
    assert "第一版" not in page
    dev_stack.wait_for("/tags/%E6%B5%8B%E8%AF%95/", lambda s, b: "第二版 second take" in b and "第一版" not in b)

    dev_stack.s3().delete_object(Bucket="newsdrop-source", Key=KEY)
    dev_stack.wait_for(URL, lambda s, b: s == 404)
    dev_stack.wait_for("/", lambda s, b: URL not in b)
    dev_stack.wait_for("/feed.xml", lambda s, b: s == 200 and URL not in b)


def test_home_and_post_in_chromium(dev_stack: DevStack, browser: Any) -> None:
    dev_stack.wait_for("/", lambda s, b: "北向资金" in b)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(dev_stack.site)
    assert page.title() == "新闻速递 newsdrop"
    link = page.locator("a.title", has_text="北向资金午后加速流入")
    assert link.count() >= 1
    link.first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/markets/2024/05/20/northbound-flows.html")
    assert page.locator("article h1").inner_text() == "北向资金午后加速流入 全天净买入超45亿元"
    # the stylesheet (a content-hashed asset) loaded and applied
    color = page.evaluate("getComputedStyle(document.querySelector('.masthead')).borderBottomStyle")
    assert color == "solid"
    assert errors == []
    page.close()


def test_a_post_s_image_from_the_source_bucket_shows_in_chromium(dev_stack: DevStack, browser: Any) -> None:
    image = "/images/2024/yuan-week.png"  # a sample file, referenced by the sample post below
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(dev_stack.site.rstrip("/") + image, timeout=10) as response:
                served, content_type = response.read(), response.headers["Content-Type"]
                break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline, f"{image} was not copied to the site"
            time.sleep(0.2)
    assert served == (ROOT / "samples/site" / image.lstrip("/")).read_bytes() and content_type == "image/png"
    page = browser.new_page()
    page.goto(dev_stack.site.rstrip("/") + "/fx/2024/05/22/fx-weekly.html")
    picture = page.locator(".post .body img")
    assert picture.get_attribute("src") == image
    page.wait_for_function("document.querySelector('.post .body img').complete")
    assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [240, 120]

    # Replaced in the source bucket, the site serves the new one; deleted, it is gone.
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key="images/2024/e2e.png", Body=served[:100])
    dev_stack.wait_for("/images/2024/e2e.png", lambda s, b: s == 200)
    dev_stack.s3().delete_object(Bucket="newsdrop-source", Key="images/2024/e2e.png")
    dev_stack.wait_for("/images/2024/e2e.png", lambda s, b: s == 404)
    page.close()
    # A PDF is saved rather than shown (the site's CSP would stop Chrome's viewer).
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key="docs/report.pdf", Body=b"%PDF-1.7")
    dev_stack.wait_for("/docs/report.pdf", lambda s, b: s == 200)
    _, headers, _ = dev_stack.get("/docs/report.pdf")
    assert (headers["Content-Type"], headers["Content-Disposition"]) == ("application/pdf", "attachment")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_poison_message_ends_in_the_dlq_and_the_rest_publish(dev_stack: DevStack) -> None:
    sqs = dev_stack.sqs()
    render_queue = sqs.get_queue_url(QueueName="newsdrop-RenderQueue")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="newsdrop-RenderDLQ")["QueueUrl"]
    # A record the render handler can never process, sent beside real work.
    poison = json.dumps({"detail-type": "PostUpserted", "source": "newsdrop.parse", "detail": {"lists": "not-a-list"}})
    sqs.send_message(QueueUrl=render_queue, MessageBody=poison)
    good_key = "_posts/2024-06-02-after-poison.md"
    upload(dev_stack, good_key, post("毒消息之后 after the poison", "照常发布。", date="2024-06-02"))
    dev_stack.wait_for("/e2e/2024/06/02/after-poison.html", lambda s, b: s == 200 and "after the poison" in b)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        if int(attrs["ApproximateNumberOfMessages"]) >= 1:
            break
        time.sleep(0.5)
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in messages] == [poison]
    assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) >= 5


def test_publish_status_and_redrive_commands(dev_stack: DevStack, tmp_path: Any) -> None:
    import subprocess
    import sys

    folder = tmp_path / "site" / "_posts"
    folder.mkdir(parents=True)
    (folder / "2024-06-03-cli.md").write_text(post("命令行发布 from the CLI", "正文。", date="2024-06-03"))
    (folder / "2024-06-03-bad.md").write_text("---\ntitle: \n---\nno title\n")
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e"}
    cli = [sys.executable, "-m", "newsdrop.cli.main"]
    done = subprocess.run(
        [*cli, "publish", str(tmp_path / "site"), "--endpoint", dev_stack.endpoint],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert "published 2 files" in done.stderr
    dev_stack.wait_for("/e2e/2024/06/03/cli.html", lambda s, b: s == 200 and "from the CLI" in b)

    deadline = time.monotonic() + 30
    while True:
        status = subprocess.run(
            [*cli, "status", "--endpoint", dev_stack.endpoint],
            capture_output=True, text=True, env={**env, "COLUMNS": "200"}, timeout=60, check=True,
        )  # fmt: skip
        if "2024-06-03-bad.md" in status.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "RenderFunction" in status.stdout and "dead letters" in status.stdout
    # The sample site's _config.yml started a site-wide refresh when the stack came up.
    assert "site-wide refresh (settings generation 1)" in status.stdout
    assert "_posts/2024-06-03-bad.md: title is missing or empty" in status.stdout

    # A message parse gave up on, in its dead-letter queue: the sample post's upload event (stale by
    # now, so parse takes it without failing once it is back on its queue).
    sqs = dev_stack.sqs()
    queues = {url.rsplit("/", 1)[1]: url for url in sqs.list_queues()["QueueUrls"]}
    dlq = next(url for name, url in queues.items() if "ParseDLQ" in name)
    queue = next(url for name, url in queues.items() if "ParseQueue" in name)
    body = json.loads((ROOT / "events" / "parse-put.json").read_text(encoding="utf-8"))["Records"][0]["body"]
    sqs.send_message(QueueUrl=dlq, MessageBody=body)

    redrive = subprocess.run(
        [*cli, "redrive", "--endpoint", dev_stack.endpoint],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "ParseFunction: 1 sent back from its dead-letter queue" in redrive.stdout, redrive.stdout

    def pending(url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(counts[name]) for name in names)

    deadline = time.monotonic() + 30
    while pending(queue) and time.monotonic() < deadline:  # parse takes it from its queue
        time.sleep(0.2)
    assert (pending(dlq), pending(queue)) == (0, 0)


def test_a_post_dated_a_moment_ahead_is_published_by_the_stack_s_scheduler(dev_stack: DevStack) -> None:
    """The local stack runs EventBridge Scheduler's one-time schedules on its (real-time) clock."""
    import datetime as dt

    # Far enough ahead that a slow upload or poll still reads it before its time; no later to
    # publish, since a schedule fires no sooner than a minute after parse sets it.
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    text = POST.format(title="定时发布 scheduled", body="到点发布。", date=f"{soon:%Y-%m-%d}").replace(
        " 10:00:00", f" {soon:%H:%M:%S} +0000"
    )
    day = soon.astimezone(dt.timezone(dt.timedelta(hours=8)))  # the sample site's time zone
    url = f"/e2e/{day:%Y/%m/%d}/scheduled.html"
    scheduler = dev_stack.client("scheduler")

    def schedules() -> set[str]:
        return {schedule["Name"] for schedule in scheduler.list_schedules()["Schedules"]}

    before = schedules()
    upload(dev_stack, f"_posts/{day:%Y-%m-%d}-scheduled.md", text)
    # Parse has read it once its schedule exists: only then does a 404 mean "not before its time".
    deadline = time.monotonic() + 15
    while not schedules() - before:
        assert time.monotonic() < deadline, "parse set no schedule for the post"
        time.sleep(0.2)
    assert dev_stack.get(url)[0] == 404  # not before its time...
    # ... and published by its schedule, which the scheduler runs to the minute (parse never asks
    # for less than a minute ahead).
    dev_stack.wait_for(url, lambda s, b: s == 200 and "定时发布 scheduled" in b, timeout=120)
    dev_stack.wait_for("/", lambda s, b: "定时发布 scheduled" in b)


def test_newsdrop_invoke_runs_a_payload_of_events_against_the_stack(dev_stack: DevStack) -> None:
    # What `sam local invoke` does, without Docker: the sample post's own upload is newer than the
    # payload's, so parse answers with no failure and logs the payload as stale, under its service.
    import subprocess
    import sys

    newsdrop = Path(sys.executable).parent / "newsdrop"
    run = subprocess.run(
        [newsdrop, "invoke", "ParseFunction", "events/parse-put.json", "--endpoint", dev_stack.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"batchItemFailures": []}
    logged = run.stdout.replace(" ", "")
    assert '"message":"stalechangeignored"' in logged and '"service":"parse"' in logged, run.stdout[-2000:]
    assert '"key":"_posts/2024-05-20-hello-newsdrop.md"' in logged
    # Powertools' warnings of what the local stack means (no CloudWatch, POWERTOOLS_DEV) are not shown.
    assert "Warning" not in run.stderr, run.stderr[-2000:]
    missing = subprocess.run(
        [newsdrop, "invoke", "NoFunction", "events/parse-put.json"], cwd=ROOT, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "ParseFunction" in missing.stderr
