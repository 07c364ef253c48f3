"""Guards on template.yaml: least privilege, dead-letter queues, partial batch failures,
private encrypted buckets, CloudFront with OAC, recursive-loop detection.

Each check is a function that returns a list of problems for a parsed template. The
tests run every check on the real template (expecting none) and on deliberately broken
copies (expecting some), so a check that can never fail is itself a failing test.
Expected sets come from the template: the functions, queues, rules and buckets it
declares and how they are wired, not from lists copied into this file.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LOCAL_ENV = ROOT / "env" / "local.json"

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

FUNCTION = "AWS::Serverless::Function"
BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
RULE = "AWS::Events::Rule"
POLICY_DOCUMENT_TYPES = (
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
)


# ----------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags (!Ref, !Sub, !GetAtt...) into
    their long form ({"Ref": ...}, {"Fn::Sub": ...}, {"Fn::GetAtt": [id, attr]})."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> Template:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


# ----------------------------------------------------------------------------- helpers


def resources(t: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {rid: r for rid, r in t.get("Resources", {}).items() if r.get("Type") == type_}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties") or {}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_SUB_VAR = re.compile(r"\$\{([^!}][^}]*)\}")


def refs(expr: Any) -> set[str]:
    """Logical IDs that an expression refers to (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(expr, list):
        for item in expr:
            found |= refs(item)
    elif isinstance(expr, dict):
        for key, value in expr.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                found |= {m.split(".", 1)[0] for m in _SUB_VAR.findall(text)} - set(variables)
                found |= refs(variables)
            else:
                found |= refs(value)
    return {r for r in found if not r.startswith("AWS::")}


def the_ref(expr: Any) -> str | None:
    """The single logical ID an expression points at, if it points at exactly one."""
    found = refs(expr)
    return next(iter(found)) if len(found) == 1 else None


def function_props(t: Template, fid: str) -> dict[str, Any]:
    """A function's properties with Globals.Function applied (as SAM merges them)."""
    merged: dict[str, Any] = copy.deepcopy(t.get("Globals", {}).get("Function", {}))
    own = props(t["Resources"][fid])
    for key, value in own.items():
        if key == "Environment":
            variables = dict(merged.get("Environment", {}).get("Variables", {}))
            variables.update(value.get("Variables", {}))
            merged["Environment"] = {"Variables": variables}
        else:
            merged[key] = value
    return merged


def function_statements(t: Template, fid: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in as_list(props(t["Resources"][fid]).get("Policies")):
        if isinstance(policy, dict) and "Statement" in policy:
            statements.extend(as_list(policy["Statement"]))
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def sqs_events(t: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function id, event name, event properties) of every SQS event source."""
    for fid, fn in resources(t, FUNCTION).items():
        for name, event in (props(fn).get("Events") or {}).items():
            if event.get("Type") == "SQS":
                yield fid, name, event.get("Properties") or {}


def consumers_of(t: Template, queue_id: str) -> set[str]:
    return {fid for fid, _, ev in sqs_events(t) if the_ref(ev.get("Queue")) == queue_id}


def rule_target_queues(t: Template, rule: dict[str, Any]) -> set[str]:
    queues = resources(t, QUEUE)
    return {q for target in as_list(props(rule).get("Targets")) if (q := the_ref(target.get("Arn"))) in queues}


def triggering_buckets(t: Template, rule: dict[str, Any]) -> set[str]:
    """Buckets whose S3 events a rule matches (EventPattern detail.bucket.name)."""
    pattern = props(rule).get("EventPattern") or {}
    if "aws.s3" not in as_list(pattern.get("source")):
        return set()
    names = ((pattern.get("detail") or {}).get("bucket") or {}).get("name")
    return refs(names) & set(resources(t, BUCKET))


def source_buckets(t: Template) -> set[str]:
    """Buckets whose object events feed the pipeline."""
    return {b for rule in resources(t, RULE).values() for b in triggering_buckets(t, rule)}


def functions_triggered_by(t: Template, bucket_id: str) -> set[str]:
    """Functions that consume a queue fed by a rule matching the bucket's events."""
    found: set[str] = set()
    for rule in resources(t, RULE).values():
        if bucket_id in triggering_buckets(t, rule):
            for queue in rule_target_queues(t, rule):
                found |= consumers_of(t, queue)
    return found


def functions_copying_files(t: Template) -> set[str]:
    """Functions that consume a queue fed by a rule taking parse's FileChanged events: they copy the
    files the site serves as they are from the source bucket, so they may read it."""
    found: set[str] = set()
    for rule in resources(t, RULE).values():
        if "FileChanged" in as_list((props(rule).get("EventPattern") or {}).get("detail-type")):
            for queue in rule_target_queues(t, rule):
                found |= consumers_of(t, queue)
    return found


def is_read_only_s3(action: str) -> bool:
    a = action.lower()
    return a.startswith(("s3:get", "s3:list"))


def all_allow_statements(t: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every policy in the template, with its owner's logical ID."""
    for rid, res in t.get("Resources", {}).items():
        p = props(res)
        docs: list[Any] = []
        if res.get("Type") == FUNCTION:
            docs = [pol for pol in as_list(p.get("Policies")) if isinstance(pol, dict)]
        elif res.get("Type") in POLICY_DOCUMENT_TYPES:
            docs = [p.get("PolicyDocument") or {}]
        elif res.get("Type") == "AWS::IAM::Role":
            docs = [pol.get("PolicyDocument") or {} for pol in as_list(p.get("Policies"))]
        for doc in docs:
            for statement in as_list(doc.get("Statement")):
                if statement.get("Effect") == "Allow":
                    yield rid, statement


def _is_tls_deny(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    return statement.get("Effect") == "Deny" and str(
        (condition.get("Bool") or {}).get("aws:SecureTransport")
    ).lower() in ("false", "0")


# ----------------------------------------------------------------------------- checks


def check_inline_policies_only(t: Template) -> list[str]:
    """Function permissions are inline statements we can inspect: no managed policies,
    no SAM policy templates, no external Role (which would replace them)."""
    problems = []
    for fid, fn in resources(t, FUNCTION).items():
        p = props(fn)
        if "Role" in p:
            problems.append(f"{fid}: uses an external Role; its permissions cannot be checked here")
        for policy in as_list(p.get("Policies")):
            if not (isinstance(policy, dict) and set(policy) <= {"Statement", "Version"}):
                problems.append(f"{fid}: policy {policy!r} is not an inline statement list")
        if not function_statements(t, fid):
            problems.append(f"{fid}: no inline policy statements")
    return problems


def check_no_wildcards(t: Template) -> list[str]:
    """No Allow statement anywhere uses a wildcard action or NotAction; function
    statements also name their resources (X-Ray's "*" comes from SAM's Tracing)."""
    problems = []
    for rid, statement in all_allow_statements(t):
        if "NotAction" in statement:
            problems.append(f"{rid}: Allow with NotAction")
        problems += [f"{rid}: wildcard action {a!r}" for a in actions(statement) if "*" in a]
    for fid in resources(t, FUNCTION):
        for statement in function_statements(t, fid):
            if statement.get("Effect") != "Allow":
                continue  # a Deny on every resource but some grants nothing
            if "NotResource" in statement or "*" in as_list(statement.get("Resource")):
                problems.append(f"{fid}: statement {statement.get('Sid', '?')} grants on every resource")
    return problems


def check_source_bucket_access(t: Template) -> list[str]:
    """Only the functions that source-bucket events trigger, and those that copy its files to the
    site, may touch a source bucket, only to read, and each function it triggers can read it."""
    problems = []
    sources = source_buckets(t)
    if not sources:
        return ["no bucket's events feed any function (expected a source bucket)"]
    copying = functions_copying_files(t)
    for bucket in sorted(sources):
        triggered = functions_triggered_by(t, bucket)
        readers = triggered | copying
        if not triggered:
            problems.append(f"{bucket}: its events reach no function")
        for fid in resources(t, FUNCTION):
            on_bucket = [s for s in function_statements(t, fid) if bucket in refs(s.get("Resource"))]
            granted = [a for s in on_bucket for a in actions(s)]
            writes = [a for a in granted if not is_read_only_s3(a)]
            if writes:
                problems.append(f"{fid}: may write to source bucket {bucket}: {writes}")
            beyond_listing = [a for a in granted if a.lower() != "s3:listbucket"]
            if beyond_listing and fid not in readers:  # a fan-out may list the keys, never read the posts
                problems.append(f"{fid}: is not triggered by {bucket} but may access it: {beyond_listing}")
            if fid in triggered and "s3:getobject" not in {a.lower() for a in granted}:
                problems.append(f"{fid}: is triggered by {bucket} but cannot s3:GetObject from it")
            if fid in copying and "s3:getobject" not in {a.lower() for a in granted}:
                problems.append(f"{fid}: copies the files of {bucket} but cannot s3:GetObject from it")
    return problems


def check_no_write_to_trigger(t: Template) -> list[str]:
    """No function may write to a bucket whose events trigger it (the classic S3 loop)."""
    problems = []
    for bucket in source_buckets(t):
        for fid in functions_triggered_by(t, bucket):
            for statement in function_statements(t, fid):
                if bucket in refs(statement.get("Resource")):
                    writes = [a for a in actions(statement) if not is_read_only_s3(a)]
                    if writes:
                        problems.append(f"{fid}: writes to {bucket}, which triggers it: {writes}")
    return problems


def check_sqs_event_mappings(t: Template) -> list[str]:
    """Every SQS event source reports partial batch failures."""
    events = list(sqs_events(t))
    if not events:
        return ["no SQS event sources"]
    return [
        f"{fid}.{name}: FunctionResponseTypes lacks ReportBatchItemFailures"
        for fid, name, ev in events
        if "ReportBatchItemFailures" not in as_list(ev.get("FunctionResponseTypes"))
    ]


QUEUE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def check_own_queues_only(t: Template) -> list[str]:
    """SAM gives a function fed by a queue AWSLambdaSQSQueueExecutionRole (receive, delete and read
    the attributes of every queue in the account): each such function denies those actions on
    every queue but those its events read."""
    problems = []
    fed: dict[str, set[str]] = {}
    for fid, _, ev in sqs_events(t):
        fed.setdefault(fid, set()).add(str(the_ref(ev.get("Queue"))))
    for fid, own in sorted(fed.items()):
        spared = [
            {str(the_ref(r)) for r in as_list(statement.get("NotResource"))}
            for statement in function_statements(t, fid)
            if statement.get("Effect") == "Deny" and set(actions(statement)) >= QUEUE_ACTIONS
        ]
        if own not in spared:
            problems.append(f"{fid}: may take other queues' messages (Denies spare {spared}; it reads {sorted(own)})")
    return problems


def check_layers_cleaned(t: Template) -> list[str]:
    """A replaced layer version is deleted: SAM keeps each one (and all on `sam delete`) by default."""
    return [
        f"{lid}: RetentionPolicy is not Delete"
        for lid, layer in resources(t, "AWS::Serverless::LayerVersion").items()
        if props(layer).get("RetentionPolicy") != "Delete"
    ] or ([] if resources(t, "AWS::Serverless::LayerVersion") else ["no layer"])


def check_consumed_queues(t: Template) -> list[str]:
    """Every queue a function consumes has a DLQ (RedrivePolicy with maxReceiveCount) and a
    visibility timeout of at least 6x the consuming function's timeout."""
    problems = []
    queues = resources(t, QUEUE)
    for fid, name, ev in sqs_events(t):
        qid = the_ref(ev.get("Queue"))
        if qid not in queues:
            problems.append(f"{fid}.{name}: consumes {ev.get('Queue')!r}, not a queue of this template")
            continue
        qp = props(queues[qid])
        redrive = qp.get("RedrivePolicy") or {}
        dlq = the_ref(redrive.get("deadLetterTargetArn"))
        if dlq not in queues or dlq == qid:
            problems.append(f"{qid}: no dead-letter queue in RedrivePolicy")
        count = redrive.get("maxReceiveCount")
        if not (isinstance(count, int) and 1 <= count <= 10):
            problems.append(f"{qid}: RedrivePolicy maxReceiveCount {count!r} not in 1..10")
        timeout = int(function_props(t, fid).get("Timeout", 3))
        visibility = int(qp.get("VisibilityTimeout", 30))
        if visibility < 6 * timeout:
            problems.append(f"{qid}: VisibilityTimeout {visibility} < 6 x {fid} Timeout {timeout}")
    return problems


def _queue_policy_allows(t: Template, queue_id: str, rule_id: str) -> bool:
    for policy in resources(t, "AWS::SQS::QueuePolicy").values():
        p = props(policy)
        if queue_id not in refs(p.get("Queues")):
            continue
        for statement in as_list((p.get("PolicyDocument") or {}).get("Statement")):
            principal = statement.get("Principal") or {}
            condition = statement.get("Condition") or {}
            source_arns = {r for block in condition.values() for r in refs(block.get("aws:SourceArn"))}
            if (
                statement.get("Effect") == "Allow"
                and "events.amazonaws.com" in as_list(principal.get("Service"))
                and "sqs:SendMessage" in actions(statement)
                and rule_id in source_arns
            ):
                return True
    return False


def check_rule_targets(t: Template) -> list[str]:
    """Every EventBridge rule target has a DLQ, and EventBridge may send (for that rule
    only) to both the target queue and the DLQ."""
    problems = []
    queues = resources(t, QUEUE)
    rules = resources(t, RULE)
    if not rules:
        return ["no EventBridge rules"]
    for rid, rule in rules.items():
        for target in as_list(props(rule).get("Targets")):
            tid = target.get("Id", "?")
            dlq = the_ref((target.get("DeadLetterConfig") or {}).get("Arn"))
            if dlq not in queues:
                problems.append(f"{rid}/{tid}: no DeadLetterConfig pointing at a queue of this template")
            else:
                if not _queue_policy_allows(t, dlq, rid):
                    problems.append(f"{rid}/{tid}: no queue policy lets {rid} send to its DLQ {dlq}")
            target_queue = the_ref(target.get("Arn"))
            if target_queue in queues and not _queue_policy_allows(t, target_queue, rid):
                problems.append(f"{rid}/{tid}: no queue policy lets {rid} send to {target_queue}")
    return problems


def check_buckets(t: Template) -> list[str]:
    """Every bucket blocks public access, is encrypted with SSE-S3 (ETags stay MD5 for
    conditional writes), is no website endpoint and refuses plain HTTP."""
    problems = []
    buckets = resources(t, BUCKET)
    if not buckets:
        return ["no buckets"]
    policies = resources(t, "AWS::S3::BucketPolicy")
    for bid, bucket in buckets.items():
        p = props(bucket)
        pab = p.get("PublicAccessBlockConfiguration") or {}
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if pab.get(flag) is not True:
                problems.append(f"{bid}: PublicAccessBlockConfiguration.{flag} is not true")
        rules = (p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
        algorithms = {(r.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules}
        if algorithms != {"AES256"}:
            problems.append(f"{bid}: default encryption is {algorithms or 'missing'}, expected AES256")
        for key in ("WebsiteConfiguration", "AccessControl"):
            if key in p:
                problems.append(f"{bid}: has {key}")
        statements = [
            s
            for pol in policies.values()
            if the_ref(props(pol).get("Bucket")) == bid
            for s in as_list((props(pol).get("PolicyDocument") or {}).get("Statement"))
        ]
        if not any(_is_tls_deny(s) for s in statements):
            problems.append(f"{bid}: no bucket policy denying aws:SecureTransport false")
        for s in statements:
            if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}):
                problems.append(f"{bid}: bucket policy allows everyone ({s.get('Sid', '?')})")
    return problems


def check_cloudfront(t: Template) -> list[str]:
    """Each distribution reads S3 through an Origin Access Control (the bucket policy
    admits only that distribution), redirects to HTTPS and maps 403/404 to /404.html."""
    problems = []
    distributions = resources(t, "AWS::CloudFront::Distribution")
    if not distributions:
        return ["no CloudFront distribution"]
    oacs = resources(t, "AWS::CloudFront::OriginAccessControl")
    buckets = resources(t, BUCKET)
    policies = resources(t, "AWS::S3::BucketPolicy")
    for did, dist in distributions.items():
        config = props(dist).get("DistributionConfig") or {}
        for origin in as_list(config.get("Origins")):
            bucket = the_ref(origin.get("DomainName"))
            if bucket not in buckets:
                continue
            oac = the_ref(origin.get("OriginAccessControlId"))
            if oac not in oacs:
                problems.append(f"{did}: S3 origin {bucket} has no Origin Access Control")
            else:
                oac_config = props(oacs[oac]).get("OriginAccessControlConfig") or {}
                if oac_config.get("SigningBehavior") != "always" or oac_config.get("SigningProtocol") != "sigv4":
                    problems.append(f"{did}: {oac} does not always sign with sigv4")
            if (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity"):
                problems.append(f"{did}: S3 origin {bucket} uses a legacy OAI")
            granted = False
            for pol in policies.values():
                if the_ref(props(pol).get("Bucket")) != bucket:
                    continue
                for s in as_list((props(pol).get("PolicyDocument") or {}).get("Statement")):
                    principal = s.get("Principal") or {}
                    conditions = s.get("Condition") or {}
                    source = {r for block in conditions.values() for r in refs(block.get("AWS:SourceArn"))}
                    if (
                        s.get("Effect") == "Allow"
                        and "cloudfront.amazonaws.com" in as_list(principal.get("Service"))
                        and "s3:GetObject" in actions(s)
                        and did in source
                    ):
                        granted = True
            if not granted:
                problems.append(f"{did}: {bucket}'s policy does not grant s3:GetObject to this distribution")
        errors = {e.get("ErrorCode"): e for e in as_list(config.get("CustomErrorResponses"))}
        for code in (403, 404):
            e = errors.get(code) or {}
            if e.get("ResponsePagePath") != "/404.html" or e.get("ResponseCode") != 404:
                problems.append(f"{did}: error {code} is not served as /404.html with status 404")
        behaviors = [config.get("DefaultCacheBehavior") or {}, *as_list(config.get("CacheBehaviors"))]
        for behavior in behaviors:
            if behavior.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                problems.append(f"{did}: a cache behavior allows plain HTTP")
    # CloudFront's names are global to the account: one named after the stack alone would clash
    # with the same stack deployed in another region (staging and production, say).
    for rid, resource in t["Resources"].items():
        if not str(resource.get("Type", "")).startswith("AWS::CloudFront::"):
            continue
        named = [v for v in props(resource).values() if isinstance(v, dict) and "Name" in v]
        for name in [props(resource).get("Name"), *(v["Name"] for v in named)]:
            if name is not None and "${AWS::Region}" not in json.dumps(name):
                problems.append(f"{rid}: its name {name} is not the region's own")
    return problems


def check_sources_kept(t: Template) -> list[str]:
    """The source buckets (the posts: the only copy, everything else is derived) outlive the stack:
    deleting it, or replacing the bucket, keeps them."""
    problems = []
    for bid in sorted(source_buckets(t)) or ["(none)"]:
        bucket = t["Resources"].get(bid) or {}
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if bucket.get(policy) != "Retain":
                problems.append(f"{bid}: {policy} is {bucket.get(policy)!r}, not Retain")
    return problems


# What every page is served with: no script but the site's own, no plugins, no <base>, no framing,
# forms post only to the site; HTTPS remembered; no sniffing; no full URL sent to other sites.
CSP_DIRECTIVES = (
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)
REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


def check_security_headers(t: Template) -> list[str]:
    """Each distribution's default behaviour sends the security headers above, overriding the origin's."""
    problems = []
    policies = resources(t, "AWS::CloudFront::ResponseHeadersPolicy")
    for did, dist in resources(t, "AWS::CloudFront::Distribution").items():
        default = (props(dist).get("DistributionConfig") or {}).get("DefaultCacheBehavior") or {}
        pid = the_ref(default.get("ResponseHeadersPolicyId"))
        if pid not in policies:
            problems.append(f"{did}: no response headers policy of this template")
            continue
        config = (props(policies[pid]).get("ResponseHeadersPolicyConfig") or {}).get("SecurityHeadersConfig") or {}
        csp = str((config.get("ContentSecurityPolicy") or {}).get("ContentSecurityPolicy", ""))
        directives = {d.strip() for d in csp.split(";")}
        problems += [f"{pid}: CSP lacks {d}" for d in CSP_DIRECTIVES if d not in directives]
        if "unsafe-inline" in next((d for d in directives if d.startswith("script-src")), ""):
            problems.append(f"{pid}: CSP lets inline script run")
        if (config.get("ReferrerPolicy") or {}).get("ReferrerPolicy") not in REFERRER_POLICIES:
            problems.append(f"{pid}: referrer policy sends full URLs to other sites")
        if (config.get("FrameOptions") or {}).get("FrameOption") != "DENY":
            problems.append(f"{pid}: frames allowed")
        if "ContentTypeOptions" not in config:
            problems.append(f"{pid}: no X-Content-Type-Options")
        if int((config.get("StrictTransportSecurity") or {}).get("AccessControlMaxAgeSec", 0)) < 31536000:
            problems.append(f"{pid}: HSTS shorter than a year")
        for name, header in config.items():
            if isinstance(header, dict) and header.get("Override") is not True:
                problems.append(f"{pid}: {name} does not override the origin's")
    return problems


# Names AWS caps, for a stack named with the most characters the README allows, in the region with
# the longest name (ap-southeast-5 and ap-northeast-3 have 14).
NAME_LIMITS = {
    "AWS::CloudFront::Function": 64,
    "AWS::CloudFront::OriginAccessControl": 64,
    "AWS::Scheduler::ScheduleGroup": 64,
    "AWS::CloudFront::ResponseHeadersPolicy": 128,
}
LONGEST_REGION = "ap-southeast-5"


def longest_stack_name() -> int:
    found = re.search(r"Keep the stack name to (\d+) characters or fewer", (ROOT / "README.md").read_text())
    assert found, "the README no longer says how long a stack name may be"
    return int(found.group(1))


def check_names_fit(t: Template) -> list[str]:
    """Every capped name fits with the longest stack name the README allows, in any region."""
    problems = []
    stack = "s" * longest_stack_name()
    for rid, resource in t["Resources"].items():
        limit = NAME_LIMITS.get(str(resource.get("Type")))
        if limit is None:
            continue
        nested = [v["Name"] for v in props(resource).values() if isinstance(v, dict) and "Name" in v]
        for name in [props(resource).get("Name"), *nested]:
            text = name.get("Fn::Sub") if isinstance(name, dict) else name
            if not isinstance(text, str):
                continue
            resolved = text.replace("${AWS::StackName}", stack).replace("${AWS::Region}", LONGEST_REGION)
            if "${" in resolved or len(resolved) > limit:
                problems.append(f"{rid}: its name {text} may be {len(resolved)} characters (at most {limit})")
    return problems


# The fan-out continues itself a page at a time, on purpose, and stops at the last page.
INTENDED_LOOPS = {"FanoutFunction"}


def check_recursive_loop(t: Template) -> list[str]:
    """Lambda's recursive loop detection stays on (Terminate) for every function but the fan-out,
    which may touch neither bucket's objects (it lists source keys and puts events)."""
    functions = resources(t, FUNCTION)
    if not functions:
        return ["no functions"]
    problems = [
        f"{fid}: RecursiveLoop is {function_props(t, fid).get('RecursiveLoop')!r}, expected 'Terminate'"
        for fid in functions
        if function_props(t, fid).get("RecursiveLoop") != "Terminate" and fid not in INTENDED_LOOPS
    ]
    for fid in INTENDED_LOOPS & set(functions):
        granted = [a for st in function_statements(t, fid) for a in actions(st)]
        object_access = [a for a in granted if a.lower().startswith("s3:") and a.lower() != "s3:listbucket"]
        if object_access:
            problems.append(f"{fid}: loops by design, so it must not touch objects: {object_access}")
    return problems


def check_log_retention(t: Template) -> list[str]:
    """Every function logs to a log group of its own that the template declares with a retention:
    the group Lambda would make by itself keeps logs for ever, at a price per GB a month."""
    problems = []
    groups = resources(t, "AWS::Logs::LogGroup")
    used: dict[str, str] = {}
    for fid in resources(t, FUNCTION):
        group = the_ref(function_props(t, fid).get("LoggingConfig", {}).get("LogGroup"))
        if group not in groups:
            problems.append(f"{fid}: logs to no log group the template declares (LoggingConfig.LogGroup)")
            continue
        if "RetentionInDays" not in props(groups[group]):
            problems.append(f"{group}: no RetentionInDays, so {fid}'s logs are kept for ever")
        if group in used:
            problems.append(f"{fid}: shares {group} with {used[group]}")
        used[group] = fid
    return problems


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of every mapping in a template fragment."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def dead_letter_queues(t: Template) -> set[str]:
    """Queues that hold what failed every retry: those named by a queue's RedrivePolicy, a rule
    target's DeadLetterConfig, or a function's `*_DLQ_ARN` setting (the schedules parse creates)."""
    found: set[str] = set()
    for key, value in _walk(t["Resources"]):
        if key in ("deadLetterTargetArn", "DeadLetterConfig") or (key.endswith("_DLQ_ARN") and refs(value)):
            found |= refs(value)
    return found & set(resources(t, "AWS::SQS::Queue"))


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: its own, or those its metric math sums."""
    p = props(alarm)
    if "MetricName" in p:
        return [p]
    return [query["MetricStat"]["Metric"] for query in p.get("Metrics", []) if "MetricStat" in query]


def check_alarms(t: Template) -> list[str]:
    """A person hears of what needs one: every dead-letter queue and every function's failed
    invocations are watched, and so are parse's rejected posts, by alarms that tell a topic
    (nothing is dropped silently, but a message nobody is told of is lost in practice)."""
    problems = []
    topics = set(resources(t, "AWS::SNS::Topic"))
    watched: set[tuple[str, str, str]] = set()  # (namespace, metric, what it is about)
    for aid, alarm in resources(t, "AWS::CloudWatch::Alarm").items():
        # ...when it goes off, and when it clears: CloudWatch tells only of the changes that have actions.
        for actions in ("AlarmActions", "OKActions"):
            if not {the_ref(action) for action in as_list(props(alarm).get(actions))} & topics:
                problems.append(f"{aid}: tells no topic the template declares ({actions})")
        for metric in _alarm_metrics(alarm):
            for dimension in metric.get("Dimensions", []):
                about = the_ref(dimension["Value"]) or str(dimension["Value"])
                watched.add((metric["Namespace"], metric["MetricName"], about))
    for queue in sorted(dead_letter_queues(t)):
        if ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue) not in watched:
            problems.append(f"{queue}: no alarm goes off when a message lands in it")
    for fid in resources(t, FUNCTION):
        if ("AWS/Lambda", "Errors", fid) not in watched:
            problems.append(f"{fid}: no alarm goes off when an invocation fails")
    parse = function_props(t, "ParseFunction")["Environment"]["Variables"]
    rejected = (parse["POWERTOOLS_METRICS_NAMESPACE"], "rejected", parse["POWERTOOLS_SERVICE_NAME"])
    if rejected not in watched:
        problems.append(f"no alarm on parse's rejected posts ({rejected})")
    return problems


def check_code_paths(t: Template) -> list[str]:
    """CodeUri/ContentUri folders exist, with the handler module and the layer's requirements."""
    problems = []
    for fid in resources(t, FUNCTION):
        p = function_props(t, fid)
        module = str(p.get("Handler", "")).rsplit(".", 1)[0].replace(".", "/")
        if not (ROOT / str(p.get("CodeUri", "")) / f"{module}.py").is_file():
            problems.append(f"{fid}: handler {p.get('Handler')!r} not found under {p.get('CodeUri')!r}")
    for lid, layer in resources(t, "AWS::Serverless::LayerVersion").items():
        if not (ROOT / str(props(layer).get("ContentUri", "")) / "requirements.txt").is_file():
            problems.append(f"{lid}: no requirements.txt in its ContentUri")
    return problems


def check_local_env(t: Template) -> list[str]:
    """env/local.json (sam local invoke --env-vars) names every function, and only sets
    variables the template declares: SAM CLI silently ignores any other."""
    problems = []
    local = json.loads(LOCAL_ENV.read_text(encoding="utf-8"))
    for fid in resources(t, FUNCTION):
        declared = set(function_props(t, fid).get("Environment", {}).get("Variables", {}))
        overrides = {**local.get("Parameters", {}), **local.get(fid, {})}
        if "AWS_ENDPOINT_URL" not in overrides:
            problems.append(f"{fid}: env/local.json does not point it at a local endpoint")
        problems += [
            f"{fid}: env/local.json sets {v}, which the template does not declare" for v in overrides.keys() - declared
        ]
    problems += [
        f"env/local.json: {k} is no function of the template"
        for k in local.keys() - set(resources(t, FUNCTION)) - {"Parameters"}
    ]
    return problems


CHECKS: list[Check] = [
    check_inline_policies_only,
    check_no_wildcards,
    check_source_bucket_access,
    check_no_write_to_trigger,
    check_sqs_event_mappings,
    check_own_queues_only,
    check_layers_cleaned,
    check_consumed_queues,
    check_rule_targets,
    check_buckets,
    check_cloudfront,
    check_sources_kept,
    check_security_headers,
    check_names_fit,
    check_recursive_loop,
    check_log_retention,
    check_alarms,
    check_code_paths,
    check_local_env,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_template_passes(template: Template, check: Check) -> None:
    assert check(template) == []


# ----------------------------------------------------------------------------- the checks can fail
# Each mutation breaks one property on a copy of the template, finding its target by type
# and wiring (never by a hard-coded name), and the matching check must notice.


def _first(t: Template, type_: str) -> dict[str, Any]:
    return props(next(iter(resources(t, type_).values())))


def _source(t: Template) -> str:
    return sorted(source_buckets(t))[0]


def _reader(t: Template) -> str:
    return sorted(functions_triggered_by(t, _source(t)))[0]


def _non_reader(t: Template) -> str:
    readers = functions_triggered_by(t, _source(t)) | functions_copying_files(t)
    return sorted(set(resources(t, FUNCTION)) - readers)[0]


def _without_source_statements(t: Template, fid: str) -> None:
    statements = [s for s in function_statements(t, fid) if _source(t) not in refs(s.get("Resource"))]
    props(t["Resources"][fid]).update(Policies=[{"Statement": statements}])


def _grant(t: Template, fid: str, action: str | list[str], resource: Any) -> None:
    policies = props(t["Resources"][fid])["Policies"]
    policies[0]["Statement"].append({"Effect": "Allow", "Action": action, "Resource": resource})


def _on_source(t: Template) -> dict[str, str]:
    return {"Fn::Sub": f"${{{_source(t)}.Arn}}/*"}


def _consumed_queue(t: Template) -> dict[str, Any]:
    _, _, ev = next(sqs_events(t))
    return props(t["Resources"][the_ref(ev["Queue"])])


def _first_target(t: Template) -> dict[str, Any]:
    target: dict[str, Any] = _first(t, RULE)["Targets"][0]
    return target


def _dist(t: Template) -> dict[str, Any]:
    config: dict[str, Any] = _first(t, "AWS::CloudFront::Distribution")["DistributionConfig"]
    return config


def _drop_globals_recursive_loop(t: Template) -> None:
    t["Globals"]["Function"].pop("RecursiveLoop", None)
    for fn in resources(t, FUNCTION).values():
        props(fn).pop("RecursiveLoop", None)


def _drop_queue_deny(t: Template) -> None:
    fid = next(sqs_events(t))[0]
    for policy in as_list(props(t["Resources"][fid]).get("Policies")):
        policy["Statement"] = [s for s in as_list(policy.get("Statement")) if s.get("Sid") != "OnlyItsOwnQueues"]


def _drop_tls_deny(t: Template) -> None:
    for pol in resources(t, "AWS::S3::BucketPolicy").values():
        doc = props(pol)["PolicyDocument"]
        doc["Statement"] = [s for s in as_list(doc["Statement"]) if not _is_tls_deny(s)]


def _drop_dlq_queue_policy(t: Template) -> None:
    dlq = the_ref(_first_target(t)["DeadLetterConfig"]["Arn"])
    t["Resources"] = {
        rid: r
        for rid, r in t["Resources"].items()
        if not (r["Type"] == "AWS::SQS::QueuePolicy" and dlq in refs(props(r).get("Queues")))
    }


def _alarm_reading(t: Template, namespace: str) -> dict[str, Any]:
    """The properties of the alarm that sums metrics of `namespace`."""
    return next(
        props(a)
        for a in resources(t, "AWS::CloudWatch::Alarm").values()
        if any(m["Namespace"] == namespace for m in _alarm_metrics(a)) and "Metrics" in props(a)
    )


def _security(t: Template) -> dict[str, Any]:
    config: dict[str, Any] = _first(t, "AWS::CloudFront::ResponseHeadersPolicy")["ResponseHeadersPolicyConfig"]
    return config["SecurityHeadersConfig"]  # type: ignore[no-any-return]


MUTATIONS: dict[str, tuple[Check, Callable[[Template], None]]] = {
    "managed policy": (
        check_inline_policies_only,
        lambda t: props(t["Resources"][_reader(t)])["Policies"].append("AmazonS3FullAccess"),
    ),
    "policy template": (
        check_inline_policies_only,
        lambda t: props(t["Resources"][_reader(t)])["Policies"].append({"S3CrudPolicy": {"BucketName": "x"}}),
    ),
    "external role": (
        check_inline_policies_only,
        lambda t: props(t["Resources"][_reader(t)]).update(Role="arn:aws:iam::1:role/x"),
    ),
    "s3:* action": (check_no_wildcards, lambda t: _grant(t, _non_reader(t), "s3:*", {"Fn::Sub": "${AWS::Partition}"})),
    "* action": (check_no_wildcards, lambda t: _grant(t, _reader(t), ["sqs:SendMessage", "*"], "arn:aws:sqs:::x")),
    "wildcard in queue policy": (
        check_no_wildcards,
        lambda t: _first(t, "AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"][0].update(Action="sqs:*"),
    ),
    "* resource": (check_no_wildcards, lambda t: _grant(t, _reader(t), "sqs:SendMessage", "*")),
    "non-reader writes source": (
        check_source_bucket_access,
        lambda t: _grant(t, _non_reader(t), "s3:PutObject", _on_source(t)),
    ),
    "non-reader reads source": (
        check_source_bucket_access,
        lambda t: _grant(t, _non_reader(t), "s3:GetObject", _on_source(t)),
    ),
    "reader deletes source": (
        check_source_bucket_access,
        lambda t: _grant(t, _reader(t), ["s3:GetObject", "s3:DeleteObject"], _on_source(t)),
    ),
    "reader cannot read": (check_source_bucket_access, lambda t: _without_source_statements(t, _reader(t))),
    "file copier cannot read": (
        check_source_bucket_access,
        lambda t: _without_source_statements(t, sorted(functions_copying_files(t))[0]),
    ),
    "reader writes its trigger": (
        check_no_write_to_trigger,
        lambda t: _grant(t, _reader(t), "s3:PutObject", _on_source(t)),
    ),
    "no ReportBatchItemFailures": (
        check_sqs_event_mappings,
        lambda t: next(sqs_events(t))[2].pop("FunctionResponseTypes"),
    ),
    "function reads every queue": (check_own_queues_only, _drop_queue_deny),
    "deny spares a dead-letter queue": (
        check_own_queues_only,
        lambda t: function_statements(t, next(sqs_events(t))[0])[0]["NotResource"].append(
            {"Fn::GetAtt": [sorted(dead_letter_queues(t))[0], "Arn"]}
        ),
    ),
    "layer versions kept": (
        check_layers_cleaned,
        lambda t: _first(t, "AWS::Serverless::LayerVersion").pop("RetentionPolicy"),
    ),
    "Allow on every resource but one": (
        check_no_wildcards,
        lambda t: props(t["Resources"][_reader(t)])["Policies"][0]["Statement"].append(
            {"Effect": "Allow", "Action": "sqs:SendMessage", "NotResource": "arn:aws:sqs:::x"}
        ),
    ),
    "no redrive": (check_consumed_queues, lambda t: _consumed_queue(t).pop("RedrivePolicy")),
    "no maxReceiveCount": (check_consumed_queues, lambda t: _consumed_queue(t)["RedrivePolicy"].pop("maxReceiveCount")),
    "short visibility": (check_consumed_queues, lambda t: _consumed_queue(t).update(VisibilityTimeout=30)),
    "target without DLQ": (check_rule_targets, lambda t: _first_target(t).pop("DeadLetterConfig")),
    "DLQ not writable": (check_rule_targets, _drop_dlq_queue_policy),
    "public bucket": (
        check_buckets,
        lambda t: _first(t, BUCKET)["PublicAccessBlockConfiguration"].update(RestrictPublicBuckets=False),
    ),
    "unencrypted bucket": (check_buckets, lambda t: _first(t, BUCKET).pop("BucketEncryption")),
    "KMS bucket": (
        check_buckets,
        lambda t: _first(t, BUCKET)["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ].update(SSEAlgorithm="aws:kms"),
    ),
    "website bucket": (
        check_buckets,
        lambda t: _first(t, BUCKET).update(WebsiteConfiguration={"IndexDocument": "index.html"}),
    ),
    "plain HTTP allowed": (check_buckets, _drop_tls_deny),
    "no OAC": (check_cloudfront, lambda t: _dist(t)["Origins"][0].pop("OriginAccessControlId")),
    "no 403 page": (
        check_cloudfront,
        lambda t: _dist(t).update(
            CustomErrorResponses=[e for e in _dist(t)["CustomErrorResponses"] if e["ErrorCode"] != 403]
        ),
    ),
    "404 served as 200": (check_cloudfront, lambda t: _dist(t)["CustomErrorResponses"][-1].update(ResponseCode=200)),
    "cloudfront name clashes across regions": (
        check_cloudfront,
        lambda t: props(next(iter(resources(t, "AWS::CloudFront::Function").values()))).update(
            Name={"Fn::Sub": "${AWS::StackName}-index-rewrite"}
        ),
    ),
    "http allowed": (
        check_cloudfront,
        lambda t: _dist(t)["DefaultCacheBehavior"].update(ViewerProtocolPolicy="allow-all"),
    ),
    "recursive loop allowed": (
        check_recursive_loop,
        lambda t: props(t["Resources"][_reader(t)]).update(RecursiveLoop="Allow"),
    ),
    "no recursive loop setting": (check_recursive_loop, _drop_globals_recursive_loop),
    "dead letters unwatched": (
        check_alarms,
        lambda t: _alarm_reading(t, "AWS/SQS")["Metrics"].pop(),
    ),
    "function errors unwatched": (
        check_alarms,
        lambda t: _alarm_reading(t, "AWS/Lambda")["Metrics"].pop(),
    ),
    "alarm tells nobody": (check_alarms, lambda t: _alarm_reading(t, "AWS/SQS").pop("AlarmActions")),
    "alarm never says it cleared": (check_alarms, lambda t: _alarm_reading(t, "AWS/Lambda").pop("OKActions")),
    "rejections of another function": (
        check_alarms,
        lambda t: next(p for a in resources(t, "AWS::CloudWatch::Alarm").values() if (p := props(a)).get("MetricName"))[
            "Dimensions"
        ][0].update(Value="render"),
    ),
    "logs kept for ever": (
        check_log_retention,
        lambda t: props(next(iter(resources(t, "AWS::Logs::LogGroup").values()))).pop("RetentionInDays"),
    ),
    "function in Lambda's own log group": (
        check_log_retention,
        lambda t: props(t["Resources"][_reader(t)]).pop("LoggingConfig"),
    ),
    "two functions in one log group": (
        check_log_retention,
        lambda t: [
            props(f).update(LoggingConfig={"LogGroup": {"Ref": next(iter(resources(t, "AWS::Logs::LogGroup")))}})
            for f in resources(t, FUNCTION).values()
        ],
    ),
    "posts deleted with the stack": (
        check_sources_kept,
        lambda t: t["Resources"][_source(t)].pop("DeletionPolicy"),
    ),
    "posts lost when the bucket is replaced": (
        check_sources_kept,
        lambda t: t["Resources"][_source(t)].update(UpdateReplacePolicy="Delete"),
    ),
    "forms post anywhere": (
        check_security_headers,
        lambda t: _security(t)["ContentSecurityPolicy"].update(ContentSecurityPolicy="script-src 'self'"),
    ),
    "full referrer": (
        check_security_headers,
        lambda t: _security(t)["ReferrerPolicy"].update(ReferrerPolicy="unsafe-url"),
    ),
    "origin's headers win": (check_security_headers, lambda t: _security(t)["FrameOptions"].update(Override=False)),
    "long function name": (
        check_names_fit,
        lambda t: _first(t, "AWS::CloudFront::Function").update(
            Name={"Fn::Sub": "${AWS::StackName}-${AWS::Region}-index-rewrite"}
        ),
    ),
    "missing handler": (
        check_code_paths,
        lambda t: props(t["Resources"][_reader(t)]).update(Handler="nowhere.handler"),
    ),
    "undeclared local variable": (
        check_local_env,
        lambda t: t["Globals"]["Function"]["Environment"]["Variables"].pop("AWS_ENDPOINT_URL"),
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_check_catches_mutation(template: Template, name: str) -> None:
    check, mutate = MUTATIONS[name]
    broken = copy.deepcopy(template)
    mutate(broken)
    assert check(broken), f"{check.__name__} did not notice: {name}"


def test_every_check_has_a_mutation() -> None:
    assert {c for c, _ in MUTATIONS.values()} == set(CHECKS)


def test_loader_reads_short_tags() -> None:
    text = "A: !Ref X\nB: !GetAtt Y.Arn\nC: !Sub '${Z.Arn}/*'\nD: !If [Cond, !Ref AWS::NoValue, 1]\n"
    data = yaml.load(text, Loader=CfnLoader)
    assert data["A"] == {"Ref": "X"}
    assert data["B"] == {"Fn::GetAtt": ["Y", "Arn"]}
    assert refs(data) == {"X", "Y", "Z"}
    assert data["D"] == {"Fn::If": ["Cond", {"Ref": "AWS::NoValue"}, 1]}


@pytest.mark.parametrize("function", ["ParseFunction", "RenderFunction"])
def test_the_functions_that_run_templates_have_room_for_themselves_and_a_child(
    template: Template, function: str
) -> None:
    # An override's trial (parse) and a site's pages with overrides (render) run in a child process
    # capped at MEMORY_LIMIT; Lambda's memory setting covers every process of the function, so the
    # function must hold both.
    from newsdrop.rendering import isolated

    memory_mib = int(function_props(template, function)["MemorySize"])
    assert memory_mib * 1024 * 1024 >= 2 * isolated.MEMORY_LIMIT


def test_the_template_s_post_size_limit_is_the_package_s_default(template: Template) -> None:
    # The default is what the parse function's memory and time budgets were measured at (ports.py).
    from newsdrop.ports import DEFAULT_MAX_POST_BYTES

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert int(variables["MAX_POST_BYTES"]) == DEFAULT_MAX_POST_BYTES


def test_the_template_s_io_concurrency_is_the_package_s_default(template: Template) -> None:
    # Within botocore's ten connections a client (settings.MAX_IO_CONCURRENCY), and what the bench measured.
    from newsdrop.settings import DEFAULT_IO_CONCURRENCY

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert int(variables["IO_CONCURRENCY"]) == DEFAULT_IO_CONCURRENCY


def test_the_source_rule_forwards_every_file_type_the_site_serves_in_any_case(template: Template) -> None:
    from newsdrop import source_keys

    suffixes = set()
    for rule in resources(template, RULE).values():
        if triggering_buckets(template, rule):
            for match in as_list(props(rule)["EventPattern"]["detail"]["object"]["key"]):
                if isinstance(match, dict) and "suffix" in match:
                    suffixes.add(match["suffix"]["equals-ignore-case"])
    assert suffixes == {f".{ext}" for ext in source_keys.FILE_TYPES}


def test_a_function_copying_files_may_not_read_the_posts_settings_or_templates(template: Template) -> None:
    # Files never start with "_"; what does (`_posts/`, `_config.yml`, `_templates/`) stays parse's,
    # and what the site never serves (`.env`, `drafts/_x.md`) is no function's to copy.
    copying = functions_copying_files(template)
    assert copying, "no function copies files"
    for fid in copying:
        denied = [
            resource
            for statement in function_statements(template, fid)
            if statement.get("Effect") == "Deny" and "s3:GetObject" in actions(statement)
            for resource in as_list(statement["Resource"])
        ]
        patterns = {str(r.get("Fn::Sub", "")).removeprefix(f"${{{_source(template)}.Arn}}") for r in denied}
        # A name or a folder anywhere that starts with "_" or ".": `.env`, `drafts/_x.md`, `.git/config`.
        assert {"/_*", "/.*", "/*/_*", "/*/.*"} <= patterns, fid
