"""The local stack: template.yaml's resources on moto, and the functions driven like Lambda would.

`provision` creates buckets, table, bus, queues (with their redrive policies) and rules
from the template. `Pump` plays Lambda's SQS event source mappings: it receives batches,
invokes the real handlers, deletes what succeeded and leaves failures to the queue's
visibility timeout and redrive policy; `tick` plays the schedule rules of scheduled functions.

On AWS, Lambda's pollers long-poll every queue, so a message is taken as soon as it arrives and
an empty queue costs the functions nothing. The pump runs in the functions' process, one queue
after another; when moto runs in this process too (`in_process`), the pump works in moto's SQS
backend, as Lambda's service works inside SQS: it sees how many messages a queue holds and
receives, deletes and returns messages there, only from a queue that has some. A publish then
makes no requests to learn that six queues are empty, nor any of the pollers' own.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from newsdrop import envelopes
from newsdrop.envelopes import ACCOUNT, REGION
from newsdrop.local import moto_patches
from newsdrop.local import template as cfn

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# The invocation each thread is running, for its log lines (see `invoke`).
_INVOCATION: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("invocation", default=None)


class _OwnInvocation(logging.Filter):
    """Stamps a log line with its thread's invocation: the formatter lets a record's own attributes
    override the keys `inject_lambda_context` set on the shared logger (and which it clears from
    the thread's own keys when an invocation starts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.update(_INVOCATION.get() or {})
        return True


@functools.cache
def _stamp_invocations() -> None:
    from newsdrop.observability import logger

    logger.registered_handler.addFilter(_OwnInvocation())


def invoke(handler: Handler, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run a handler as Lambda would, with its own invocation on its log lines: the functions share
    one Powertools logger in this process, whose keys name whichever invocation started last."""
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

    _stamp_invocations()
    token = _INVOCATION.set(build_lambda_context_model(context).__dict__)
    try:
        return handler(event, context)
    finally:
        _INVOCATION.reset(token)


@dataclass(frozen=True)
class Names:
    stack: str = "newsdrop"
    source_bucket: str = "newsdrop-source"
    site_bucket: str = "newsdrop-site"
    artifact_bucket: str = "newsdrop-artifacts"
    table: str = "newsdrop-catalog"


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass(frozen=True)
class EventSource:
    """One SQS event source mapping of a function."""

    queue: str  # logical id of the queue it consumes
    batch_size: int

    @property
    def receive_max(self) -> int:
        """Messages one receive asks for: the batch size, within SQS's limit of ten."""
        return min(self.batch_size, 10)


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    sources: list[EventSource]  # the live lane first
    environment: dict[str, str]
    schedules: list[str] = field(default_factory=list)  # logical ids of its schedule rules (SAM's names)

    def load(self) -> Handler:
        module_name, _, attr = self.handler.rpartition(".")
        path = self.code_uri / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"newsdrop_function_{self.logical_id}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Handler = getattr(module, attr)
        return handler


@dataclass
class Stack:
    root: Path
    names: Names
    template: dict[str, Any]
    resolver: cfn.Resolver
    queue_urls: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == kind}

    def dlq_of(self, queue_logical: str) -> str | None:
        policy = self.resources[queue_logical].get("Properties", {}).get("RedrivePolicy")
        if not policy:
            return None
        target = policy["deadLetterTargetArn"]
        return str(target["Fn::GetAtt"][0])


def client(service: str, endpoint: str | None) -> Any:
    """A boto3 client for the local stack (or AWS when endpoint is None)."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)  # type: ignore[call-overload]


def describe(root: Path, names: Names) -> Stack:
    """The stack's local names, ARNs and functions, resolved from the template (creates nothing)."""
    template = cfn.load(root / "template.yaml")
    params = {
        "SourceBucketName": names.source_bucket,
        "SiteBucketName": names.site_bucket,
        "ArtifactBucketName": names.artifact_bucket,
    }
    resolver = cfn.Resolver(template=template, stack_name=names.stack, parameters=params)
    stack = Stack(root=root, names=names, template=template, resolver=resolver)

    buckets = {
        "SourceBucket": names.source_bucket,
        "SiteBucket": names.site_bucket,
        "ArtifactBucket": names.artifact_bucket,
    }
    for logical in stack.of_type("AWS::S3::Bucket"):
        name = buckets.get(logical, f"{names.stack}-{logical.lower()}")
        resolver.physical[logical] = name
        resolver.arns[logical] = f"arn:aws:s3:::{name}"
    for logical in stack.of_type("AWS::DynamoDB::Table"):
        resolver.physical[logical] = names.table
        resolver.arns[logical] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{names.table}"
    for logical in stack.of_type("AWS::SQS::Queue"):
        name = f"{names.stack}-{logical}"
        resolver.physical[logical] = name
        resolver.arns[logical] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    for logical, spec in stack.of_type("AWS::Events::EventBus").items():
        name = resolver.resolve(spec["Properties"]["Name"])
        resolver.physical[logical] = name
        resolver.arns[logical] = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"
    for logical in stack.of_type("AWS::CloudFront::Distribution"):
        resolver.physical[logical] = "LOCAL"
        resolver.arns[logical] = f"arn:aws:cloudfront::{ACCOUNT}:distribution/LOCAL"
    for logical in stack.of_type("AWS::Events::Rule"):
        resolver.physical[logical] = f"{names.stack}-{logical}"
        resolver.arns[logical] = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{names.stack}-{logical}"
    for logical, spec in stack.of_type("AWS::Scheduler::ScheduleGroup").items():
        name = resolver.resolve(spec["Properties"]["Name"])
        resolver.physical[logical] = name
        resolver.arns[logical] = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}"
    for logical in stack.of_type("AWS::IAM::Role"):
        resolver.physical[logical] = f"{names.stack}-{logical}"
        resolver.arns[logical] = f"arn:aws:iam::{ACCOUNT}:role/{names.stack}-{logical}"

    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for logical, spec in stack.of_type("AWS::Serverless::Function").items():
        props = spec["Properties"]
        env = {
            **resolver.resolve(globals_env),
            **resolver.resolve(props.get("Environment", {}).get("Variables", {})),
        }
        events = props.get("Events", {})
        sources = [
            EventSource(event["Properties"]["Queue"]["Fn::GetAtt"][0], int(event["Properties"].get("BatchSize", 10)))
            for event in events.values()
            if event.get("Type") == "SQS"
        ]
        schedules = [f"{logical}{name}" for name, event in events.items() if event.get("Type") == "Schedule"]
        if sources or schedules:
            stack.functions[logical] = FunctionSpec(
                logical_id=logical,
                code_uri=root / props["CodeUri"],
                handler=props["Handler"],
                sources=sources,
                environment={k: str(v) for k, v in env.items()},
                schedules=schedules,
            )
    return stack


def queue_url(stack: Stack, logical: str, endpoint: str | None = None) -> str:
    if logical not in stack.queue_urls:
        sqs = client("sqs", endpoint)
        stack.queue_urls[logical] = sqs.get_queue_url(QueueName=stack.resolver.physical[logical])["QueueUrl"]
    return stack.queue_urls[logical]


def provision(root: Path, names: Names, endpoint: str | None = None) -> Stack:
    """Create the template's resources on moto (or any AWS-compatible endpoint)."""
    stack = describe(root, names)
    resolver = stack.resolver
    s3, sqs, events, ddb, scheduler = (client(s, endpoint) for s in ("s3", "sqs", "events", "dynamodb", "scheduler"))
    for logical, spec in stack.of_type("AWS::S3::Bucket").items():
        props = resolver.resolve(spec.get("Properties", {}))
        name = resolver.physical[logical]
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration"):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    for logical, spec in stack.of_type("AWS::DynamoDB::Table").items():
        props = resolver.resolve(spec["Properties"])
        ddb.create_table(
            TableName=resolver.physical[logical],
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
    # Dead-letter queues first: a redrive policy must name an existing queue.
    queues = stack.of_type("AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
    for logical in ordered:
        props = resolver.resolve(queues[logical].get("Properties", {}))
        attributes = {}
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if name in props:
                attributes[name] = str(props[name])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=resolver.physical[logical], Attributes=attributes)["QueueUrl"]
        stack.queue_urls[logical] = url
    for logical in stack.of_type("AWS::Events::EventBus"):
        events.create_event_bus(Name=resolver.physical[logical])
    for logical, spec in stack.of_type("AWS::Events::Rule").items():
        props = resolver.resolve(spec["Properties"])
        bus = props.get("EventBusName", "default")
        events.put_rule(
            Name=resolver.physical[logical],
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
        )
        targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", [])]
        events.put_targets(Rule=resolver.physical[logical], EventBusName=bus, Targets=targets)
    for logical in stack.of_type("AWS::Scheduler::ScheduleGroup"):
        scheduler.create_schedule_group(Name=resolver.physical[logical])
    # IAM roles are not created: moto does not enforce them, and the functions run in this process.
    return stack


@dataclass
class Pump:
    """Lambda's SQS event source mapping, for every function of the stack, in this process."""

    stack: Stack
    endpoint: str | None = None
    retry_after: int | None = None  # seconds before a failed record is visible again (None: the queue's timeout)
    in_process: bool = False  # moto runs in this process: work in its SQS backend, not by requests
    # Render's listings derived at once (the template says 8, for AWS's round trips). Here moto answers
    # in this process, one request at a time, so threads would only wait on each other: one at a
    # time was 3% faster a publish, side by side (README, Design).
    io_concurrency: int = 1
    handlers: dict[str, Handler] = field(default_factory=dict)
    invocations: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sqs = client("sqs", self.endpoint)
        env: dict[str, str] = {}
        for spec in self.stack.functions.values():
            env.update(spec.environment)
        env = {k: v for k, v in env.items() if k not in ("AWS_ENDPOINT_URL", "DISTRIBUTION_ID") and v != ""}
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        env.setdefault("AWS_DEFAULT_REGION", REGION)
        env["POWERTOOLS_METRICS_DISABLED"] = "true"
        env["POWERTOOLS_SERVICE_NAME"] = "newsdrop"  # one process hosts all functions; log lines name the function
        env["IO_CONCURRENCY"] = str(self.io_concurrency)
        # The functions read their settings from the environment, as in Lambda.
        os.environ.update(env)
        for logical, spec in self.stack.functions.items():
            self.handlers[logical] = spec.load()

    def step(self, logical: str, *, wait: int = 0) -> int:
        """One receive + invoke from each of the function's queues; returns how many messages were received."""
        return sum(self.step_source(logical, source, wait=wait) for source in self.stack.functions[logical].sources)

    def step_source(self, logical: str, source: EventSource, *, wait: int = 0) -> int:
        """One receive + invoke from one queue; returns how many messages were received."""
        if self.in_process and not self._moto_queue(source.queue).approximate_number_of_messages:
            return 0
        messages = self._receive(source, wait)
        if not messages:
            return 0
        arn = self.stack.resolver.arns[source.queue]
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
        self.invocations[logical] = self.invocations.get(logical, 0) + 1
        try:
            result = invoke(self.handlers[logical], {"Records": records}, LambdaContext(function_name=logical))
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception as exc:  # the invocation failed: Lambda returns the whole batch to the queue
            log.exception("%s failed on a batch of %d", logical, len(records))
            self.errors.append(f"{logical}: {exc}")
            failed = {r["messageId"] for r in records}
        self._delete(source, [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed])
        if failed and self.retry_after is not None:
            for m in messages:
                if m["MessageId"] in failed:
                    self._make_visible(source, m["ReceiptHandle"], self.retry_after)
        return len(messages)

    # Receiving, deleting and returning messages: Lambda's pollers do this inside AWS, not through the
    # functions' SDK. With moto in this process the pump does it in moto's SQS backend, which the
    # API's handlers call (the same visibility, receive counts and redrive to the dead-letter queue),
    # without a request's botocore and moto round trip: six of them a publish.

    def _receive(self, source: EventSource, wait: int) -> list[dict[str, Any]]:
        if not self.in_process:
            response = self.sqs.receive_message(
                QueueUrl=self.stack.queue_urls[source.queue],
                MaxNumberOfMessages=source.receive_max,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages: list[dict[str, Any]] = response.get("Messages", [])
            return messages
        queue = self._moto_queue(source.queue)
        limit, timeout = source.receive_max, queue.visibility_timeout
        # Under the lock, as `newsdrop dev` polls from many threads beside its server's requests; and
        # so without a long poll (`step_source` comes here only when the queue has messages).
        with moto_patches.BACKENDS:
            return [_as_received(m) for m in _moto_sqs().receive_message(queue.name, limit, 0, timeout, ["All"])]

    def _delete(self, source: EventSource, handles: list[str]) -> None:
        if not handles:
            return
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        if self.in_process:
            with moto_patches.BACKENDS:
                _moto_sqs().delete_message_batch(self.stack.resolver.physical[source.queue], entries)
            return
        for start in range(0, len(entries), 10):  # the API takes ten a request
            self.sqs.delete_message_batch(
                QueueUrl=self.stack.queue_urls[source.queue], Entries=entries[start : start + 10]
            )

    def _make_visible(self, source: EventSource, handle: str, seconds: int) -> None:
        if self.in_process:
            with moto_patches.BACKENDS:
                _moto_sqs().change_message_visibility(self.stack.resolver.physical[source.queue], handle, seconds)
        else:
            self.sqs.change_message_visibility(
                QueueUrl=self.stack.queue_urls[source.queue], ReceiptHandle=handle, VisibilityTimeout=seconds
            )

    def tick(self) -> None:
        """What the stack's schedule rules do when their time comes: invoke each scheduled function
        once (the compaction; `newsdrop dev` calls this on a timer, tests and the bench when they choose)."""
        for logical, spec in self.stack.functions.items():
            for rule in spec.schedules:
                self.invocations[logical] = self.invocations.get(logical, 0) + 1
                try:
                    event = envelopes.scheduled_event(f"{self.stack.names.stack}-{rule}")
                    invoke(self.handlers[logical], event, LambdaContext(logical))
                except Exception as exc:  # as on AWS: the next tick runs again
                    log.exception("%s failed on its schedule", logical)
                    self.errors.append(f"{logical}: {exc}")

    def drain(self, *, max_rounds: int = 100_000) -> None:
        """Run every function until all their queues are empty (in-flight messages included).

        Each queue is emptied in turn, parse first, like `newsdrop build` does, so that both
        run the same batches and write the same bytes. A queue is left when a receive brings
        less than a full batch: moto hands out every visible message up to the maximum, so a
        short batch was all there was (what a handler sends back to it is found by `pending`)."""
        first = ("ParseFunction", "FanoutFunction", "RenderFunction")
        order = sorted(self.stack.functions, key=lambda f: (first.index(f) if f in first else len(first), f))
        for _ in range(max_rounds):
            for logical in order:
                for source in self.stack.functions[logical].sources:
                    while self.step_source(logical, source) == source.receive_max:
                        pass
            # Nothing visible or in flight anywhere: done, without another round of empty receives.
            if not self.pending():
                return
        raise RuntimeError("queues did not drain")

    def pending(self) -> int:
        """Messages visible or in flight in the functions' queues."""
        sources = [s for spec in self.stack.functions.values() for s in spec.sources]
        if self.in_process:
            queues = [self._moto_queue(s.queue) for s in sources]
            return sum(q.approximate_number_of_messages + q.approximate_number_of_messages_not_visible for q in queues)
        total = 0
        for source in sources:
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=self.stack.queue_urls[source.queue],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        return total

    def _moto_queue(self, logical: str) -> Any:
        """The queue as moto in this process holds it (looked up each time: a reset of moto replaces it)."""
        return _moto_sqs().get_queue(self.stack.resolver.physical[logical])


def _moto_sqs() -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT][REGION]


def _as_received(message: Any) -> dict[str, Any]:
    """A message of moto's SQS backend as ReceiveMessage returns it, asked for all attributes
    (moto's `SQSResponse.receive_message`; the pump's queues are standard ones)."""
    received: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.body_md5,
        "Body": message.body,
        "Attributes": {
            "SenderId": message.sender_id,
            "SentTimestamp": str(message.sent_timestamp),
            "ApproximateReceiveCount": str(message.approximate_receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
        },
    }
    trace = (message.system_attributes or {}).get("AWSTraceHeader")
    if trace:
        received["Attributes"]["AWSTraceHeader"] = trace.get("StringValue")
    if message.message_attributes:
        received["MessageAttributes"] = message.message_attributes
        received["MD5OfMessageAttributes"] = message.attribute_md5
    return received
