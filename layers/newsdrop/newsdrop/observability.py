"""Logger, Metrics and Tracer for the Lambda handlers (Powertools), created once per process.

Domain modules log through the standard `logging` module with `extra=` fields (the
S3 key and sequencer); the handlers hand those loggers Powertools' JSON formatter, so
every line is structured and carries the correlation data.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from newsdrop.stages.common import Outcome

logger = Logger()
metrics = Metrics(namespace="newsdrop")
tracer = Tracer()

copy_config_to_registered_loggers(source_logger=logger, include={"newsdrop"})


def record_outcome(outcome: Outcome) -> None:
    """Publish a stage's counts as CloudWatch metrics (EMF, written with the logs)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return  # disabled metrics are never flushed: adding them would only accumulate
    for name, value in outcome.counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    failures = len(outcome.response.get("batchItemFailures", []))
    metrics.add_metric(name="failed_records", unit=MetricUnit.Count, value=failures)
