"""The alarm on rejected posts watches the metric parse really writes.

template.yaml's RejectedPostsAlarm reads a custom metric by namespace, name and dimension; a
rename on either side would leave the alarm watching nothing, quietly. So a broken post goes
through the parse stage, its outcome is recorded by the handlers' own `record_outcome` with the
parse function's settings from the template, and the Embedded Metric Format that Powertools
prints (what CloudWatch turns into metrics) must name what the alarm reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.unit.test_template import function_props, load_template, props, resources

CHILD = """
import json
from newsdrop import envelopes
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.observability import metrics, record_outcome
from newsdrop.stages import parse

pipeline = InProcessPipeline()
pipeline.upload("_posts/2024-05-20-broken.md", b"---\\ntitle: [unclosed\\n---\\nbody\\n")
body, _ = pipeline.queues["parse"].messages.popleft()
outcome = parse.run({"Records": [envelopes.sqs_record(body, queue="newsdrop-parse")]}, pipeline.ports)
assert outcome.counts.get("rejected") == 1, outcome.counts
record_outcome(outcome)
metrics.flush_metrics()
"""


def _watched_by_rejections_alarm() -> tuple[str, str, dict[str, str]]:
    t = load_template()
    for alarm in resources(t, "AWS::CloudWatch::Alarm").values():
        p = props(alarm)
        if p.get("MetricName") == "rejected":
            return p["Namespace"], p["MetricName"], {d["Name"]: d["Value"] for d in p["Dimensions"]}
    raise AssertionError("no alarm reads a metric named 'rejected'")


def _emf_lines(stdout: str) -> list[dict[str, Any]]:
    found = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found.append(json.loads(line))
    return found


def test_the_rejections_alarm_reads_the_metric_parse_writes_for_a_broken_post() -> None:
    namespace, name, dimensions = _watched_by_rejections_alarm()
    settings = function_props(load_template(), "ParseFunction")["Environment"]["Variables"]
    env = {
        **os.environ,
        "POWERTOOLS_METRICS_DISABLED": "false",
        "POWERTOOLS_METRICS_NAMESPACE": str(settings["POWERTOOLS_METRICS_NAMESPACE"]),
        "POWERTOOLS_SERVICE_NAME": str(settings["POWERTOOLS_SERVICE_NAME"]),
    }
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr

    (emf,) = _emf_lines(child.stdout)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    assert name in {metric["Name"] for metric in directive["Metrics"]}
    assert emf[name] in (1, [1])  # Powertools writes a list of values
    # The alarm's dimensions are exactly one of the metric's dimension sets, with the same values.
    assert sorted(dimensions) in [sorted(keys) for keys in directive["Dimensions"]]
    assert {key: emf[key] for key in dimensions} == dimensions
