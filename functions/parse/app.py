"""Parse function: SQS batch in, partial-batch response out. The work is in newsdrop.stages.parse."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from newsdrop.observability import logger, metrics, record_outcome
from newsdrop.runtime import aws_ports
from newsdrop.stages import parse


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = parse.run(event, aws_ports(), seconds_left=lambda: context.get_remaining_time_in_millis() / 1000)
    record_outcome(outcome)
    return outcome.response
