"""The local stack runs every function in one process: each invocation's log lines must still name it."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

from newsdrop.local.stack import LambdaContext, invoke
from newsdrop.observability import logger


def test_two_handlers_running_at_once_each_log_their_own_function_and_request() -> None:
    first_started, second_started = threading.Event(), threading.Event()

    @logger.inject_lambda_context(clear_state=True)
    def parse(event: dict[str, Any], context: Any) -> dict[str, Any]:
        first_started.set()
        second_started.wait(5)  # the other handler has set the shared logger's keys to its own since
        logger.info("parse line")
        return {}

    @logger.inject_lambda_context(clear_state=True)
    def render(event: dict[str, Any], context: Any) -> dict[str, Any]:
        second_started.set()
        logger.info("render line")
        return {}

    contexts = {"parse line": LambdaContext("ParseFunction"), "render line": LambdaContext("RenderFunction")}
    out = io.StringIO()
    stream = logger.registered_handler.setStream(out)  # type: ignore[attr-defined]
    try:
        thread = threading.Thread(target=invoke, args=(parse, {}, contexts["parse line"]))
        thread.start()
        first_started.wait(5)
        invoke(render, {}, contexts["render line"])
        thread.join(5)
    finally:
        logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {line["message"] for line in lines} == set(contexts)
    for line in lines:
        context = contexts[line["message"]]
        assert line["function_name"] == context.function_name
        assert line["function_request_id"] == context.aws_request_id
