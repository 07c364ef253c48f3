"""Logger and Metrics for the Lambda handlers (Powertools), created once per process.

Domain modules log through the standard `logging` module with `extra=` fields (the
S3 key and sequencer); the handlers hand those loggers Powertools' JSON formatter, so
every line is structured and carries the correlation data.

No Tracer: Powertools' Tracer drives the X-Ray SDK, whose import took about 200 ms of every
cold start and which brought its own botocore (21 MB) into the layer. The functions keep
`Tracing: Active` (template.yaml): Lambda still records a segment per invocation (init,
invocation, overhead), and botocore still sends the invocation's trace header with every
request, which EventBridge passes on to its targets. What is gone is a subsegment per AWS
call inside an invocation (and Powertools' cold-start annotation on the handler).
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from newsdrop.stages.common import Outcome

logger = Logger()
metrics = Metrics(namespace="newsdrop")

# Powertools copies its handler only to loggers that exist already, and the stages' loggers
# may not yet: create their parent first, or with a service name other than "newsdrop" (each
# function's, in template.yaml) every line of theirs would go to Python's bare fallback.
logging.getLogger("newsdrop")
copy_config_to_registered_loggers(source_logger=logger, include={"newsdrop"})


def record_outcome(outcome: Outcome) -> None:
    """Publish a stage's counts as CloudWatch metrics (EMF, written with the logs)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return  # disabled metrics are never flushed: adding them would only accumulate
    for name, value in outcome.counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    failures = len(outcome.response.get("batchItemFailures", []))
    metrics.add_metric(name="failed_records", unit=MetricUnit.Count, value=failures)
