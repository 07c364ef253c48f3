"""`newsdrop build | dev | publish | import | status | redrive`."""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import faulthandler
import logging
import os
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

from newsdrop import paths, source_keys
from newsdrop.local.sources import copy_files, read_within, source_files


def _build(args: argparse.Namespace) -> int:
    if args.jobs > 1:
        from newsdrop.local.readahead import start_early

        start_early()  # its imports beside this process's own

    from newsdrop.adapters.memory import MemoryStore
    from newsdrop.local.inprocess import BULK_BATCH_SIZES, InProcessPipeline

    src = Path(args.src)
    if not src.is_dir():
        print(f"newsdrop build: {src} is not a folder", file=sys.stderr)
        return 2
    out = Path(args.out)
    refusal = _output_refusal(src, out, clean=args.clean)
    if refusal:
        print(f"newsdrop build: {refusal}", file=sys.stderr)
        return 2
    if out.exists() and args.clean:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if not any(out.iterdir()):  # a folder this build fills from empty: a later --clean may empty it
        (out / BUILD_MARK).write_text(BUILD_MARK_TEXT, encoding="utf-8")
    _warn_without_posts("build", src)
    unread: list[tuple[str, str]] = []
    found = list(source_files(src, leave_out=out, refused=unread))
    # The site's objects are written to OUT as the stages make them, render's and index's side by side.
    pipeline = InProcessPipeline(
        site=MemoryStore(mirror=out), batch_sizes=BULK_BATCH_SIZES, freeze_survivors=args.exits
    )
    posts = ((key, path) for key, path in found if not source_keys.is_file_key(key))
    pipeline.publish_site(read_within(posts, pipeline.max_post_bytes, unread), jobs=args.jobs)
    copied = copy_files(((key, path) for key, path in found if source_keys.is_file_key(key)), out)
    rejections = unread + pipeline.rejections + copied.refused
    for key, reason in rejections:
        print(f"rejected {shown(key)}: {shown(reason)}", file=sys.stderr)
    count = len(pipeline.site.objects) + copied.count
    entries = pipeline.catalog.entries("all")
    print(f"built {len(entries)} posts into {count} files in {out} ({len(rejections)} rejected)", file=sys.stderr)
    unwritable = pipeline.site.unwritable | copied.unwritable
    # A post's page names its source, which the author can change; a file's key is its source's.
    pages = {paths.key_for_url(entry.url): entry.key for entry in entries} if unwritable else {}
    for key, reason in sorted(unwritable.items()):
        page_of = f" (the page of {shown(pages[key])})" if key in pages else ""
        print(f"not written {shown(key)}{page_of}: {shown(reason)}", file=sys.stderr)
    if pipeline.dead_letters:
        print(f"newsdrop build: messages failed repeatedly: {pipeline.dead_letters}", file=sys.stderr)
        return 1
    if unwritable:  # the site on S3 would hold them; this folder cannot
        return 1
    return 1 if args.strict and rejections else 0


# Left in an output folder that a build filled from empty: `--clean` empties no other non-empty folder.
BUILD_MARK = ".newsdrop-build"
BUILD_MARK_TEXT = "newsdrop build wrote this folder; `newsdrop build --clean` may empty it.\n"


def _output_refusal(src: Path, out: Path, *, clean: bool) -> str:
    """Why OUT cannot take the build, or "". As Jekyll refuses, the output may be inside the sources
    (`_site`) but neither be them nor hold them: the build would read its own output, and --clean
    would delete the posts."""
    real_src, real_out = src.resolve(), out.resolve()
    if real_src.is_relative_to(real_out):
        return f"the output folder {out} is or holds the source folder {src}"
    if out.is_symlink() and out.parent.resolve().is_relative_to(real_src):
        # `_site -> ~` in a tree taken from someone else: the site would be written over whatever it leads to.
        return f"the output folder {out} is a link inside the source folder: give the folder it leads to, if meant"
    if real_out.is_relative_to(real_src) and f"{real_out.relative_to(real_src).parts[0]}/" in (
        source_keys.POSTS_PREFIX,
        source_keys.TEMPLATES_PREFIX,
    ):
        # The build leaves its output out of the sources: pages among the posts or templates would
        # hide them, and --clean delete them.
        return f"the output folder {out} is among the posts or templates of {src}: give another ({src / '_site'})"
    if clean and out.is_symlink():
        return f"--clean empties a folder, and {out} is a link: give the folder itself"
    if clean and out.is_dir() and not (out / BUILD_MARK).is_file() and any(out.iterdir()):
        # `--out ~/Documents --clean`, or `--out SRC/images`: a mistyped folder would be deleted.
        return (
            f"--clean empties only a folder that a build filled from empty (it holds {BUILD_MARK}), and {out} "
            "holds files no build made: empty it yourself, or give another folder"
        )
    return ""


# Control characters (C0, DEL, C1) in a name or reason from a source tree, as the terminal should
# show them: a carriage return or an escape sequence in a file's name could erase or forge the
# lines around it, the other rejections among them.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def shown(text: str) -> str:
    return source_keys.escaped(text).translate(_CONTROLS)


def _warn_without_posts(command: str, folder: Path) -> None:
    """A folder one level above the site (`samples` for `samples/site`) builds or publishes nothing
    of it: say so, and where the posts are, rather than report success."""
    settings = (source_keys.POSTS_PREFIX, source_keys.TEMPLATES_PREFIX, source_keys.CONFIG_KEY)
    if not folder.is_dir() or any((folder / name).exists() for name in settings):
        return  # a folder of settings alone is a settings change
    nested = sorted(p.parent for p in folder.glob("*/" + source_keys.POSTS_PREFIX.rstrip("/")) if p.is_dir())
    hint = f" (did you mean {', '.join(map(str, nested))}?)" if nested else ""
    print(f"newsdrop {command}: warning: {folder} has no {source_keys.POSTS_PREFIX} folder{hint}", file=sys.stderr)


DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _names(args: argparse.Namespace) -> Any:
    from newsdrop.local.stack import Names

    return Names(source_bucket=args.source_bucket, site_bucket=args.site_bucket)


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone offset (e.g. +08:00 or Z)")
    return value


def _port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _dev(args: argparse.Namespace) -> int:
    from newsdrop.clock import ManualClock
    from newsdrop.local.dev import DevStack, address_warning, project_root, upload

    # The servers bind in threads of their own, where a port in use would fail quietly (moto's
    # would leave the stack waiting for it for ever): check both first, and say which.
    if args.s3_port == args.site_port:
        print(f"newsdrop dev: the S3 endpoint and the site cannot share port {args.s3_port}", file=sys.stderr)
        return 2
    for option, port in (
        ("--s3-port (make run S3_PORT=...)", args.s3_port),
        ("--site-port (make run SITE_PORT=...)", args.site_port),
    ):
        if _port_in_use(args.host, port):
            print(
                f"newsdrop dev: port {port} on {args.host} is in use; stop what uses it or pick another with {option}",
                file=sys.stderr,
            )
            return 2
    stack = DevStack(
        root=project_root(),
        names=_names(args),
        host=args.host,
        s3_port=args.s3_port,
        site_port=args.site_port,
        retry_after=args.retry_after,
        concurrency=args.concurrency,
        clock=ManualClock(args.now, running=True) if args.now else None,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    _quiet_local_warnings()
    # Ctrl-C and `kill` stop the stack cleanly, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints where each thread is, if it ever hangs
    stack.start()
    logging.getLogger("newsdrop").setLevel(logging.WARNING)  # rejections and failures (the handlers set INFO)
    try:
        if args.posts:
            refused: list[tuple[str, str]] = []
            files = list(source_files(Path(args.posts), refused=refused))
            count = sum(1 for _ in upload(files, stack.names.source_bucket, stack.endpoint, refused))
            _left_out("dev", refused)
            print(f"uploaded {count} files from {args.posts}", flush=True)
        print(stack.banner(args.posts), flush=True)
        warning = address_warning(Path(args.posts), stack.site_port) if args.posts else None
        if warning:
            print(warning, file=sys.stderr, flush=True)
        # Wake now and then: a signal the kernel hands to another thread only sets a flag, which an
        # unbounded wait in this (the main) thread would never get to read.
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stack.stop()
    return 0


def _publish(args: argparse.Namespace) -> int:
    from newsdrop.local.dev import use_local_credentials

    folder = Path(args.dir)
    _warn_without_posts("publish", folder)
    refused: list[tuple[str, str]] = []
    files = list(source_files(folder, refused=refused))
    _left_out("publish", refused)
    if not files:
        print(f"newsdrop publish: no _config.yml, _templates/, _posts/ or site files in {folder}", file=sys.stderr)
        return 2
    if args.endpoint:
        use_local_credentials()
    uploaded = _upload_shown("publish", files, args, f"uploading to s3://{args.bucket}")
    print(f"published {uploaded} files to s3://{args.bucket}", file=sys.stderr)
    return 0


def _upload_shown(command: str, files: list[tuple[str, Path]], args: argparse.Namespace, label: str) -> int:
    """Upload `files` to `args.bucket` with a progress bar; report those that could not be read by
    then; how many were uploaded."""
    from rich.progress import Progress

    from newsdrop.local.dev import upload

    unread: list[tuple[str, str]] = []
    uploaded = 0
    with Progress(transient=False) as progress:
        task = progress.add_task(label, total=len(files))
        for _ in upload(files, args.bucket, args.endpoint, unread):
            uploaded += 1
            progress.advance(task)
    _left_out(command, unread)
    return uploaded


def _left_out(command: str, refused: list[tuple[str, str]]) -> None:
    for key, reason in refused:
        print(f"newsdrop {command}: left out {shown(key)}: {shown(reason)}", file=sys.stderr)


def _import(args: argparse.Namespace) -> int:
    from newsdrop.local.dev import use_local_credentials
    from newsdrop.local.jekyll import JekyllSite

    try:
        jekyll = JekyllSite.read(Path(args.dir))
    except ValueError as exc:
        print(f"newsdrop import: {exc}", file=sys.stderr)
        return 2
    if args.endpoint:
        use_local_credentials()
    files = jekyll.files()
    uploaded = _upload_shown("import", files, args, f"importing into s3://{args.bucket}")
    print(
        f"imported {uploaded} files ({jekyll.post_count} posts) from {args.dir} to s3://{args.bucket}",
        file=sys.stderr,
    )
    for note in jekyll.notes():
        print(f"  note: {shown(note)}", file=sys.stderr)
    return 0


def _quiet_local_warnings() -> None:
    """What Powertools warns of on the local stack, where both are meant: no metrics are published
    (there is no CloudWatch; it would say so per batch), and env/local.json's POWERTOOLS_DEV."""
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", message="POWERTOOLS_DEV environment variable is enabled")


def _invoke(args: argparse.Namespace) -> int:
    """What `sam local invoke -e EVENT --env-vars env/local.json` does, in this process: the
    function's code and handler from template.yaml, its variables from env/local.json (the
    endpoint this stack's), and the response printed as JSON after the function's own log lines."""
    import json

    from newsdrop.local import template as cfn
    from newsdrop.local.dev import project_root, use_local_credentials
    from newsdrop.local.stack import FunctionSpec, LambdaContext

    root = project_root()
    resources = cfn.load(root / "template.yaml")["Resources"]
    variables = json.loads((root / "env" / "local.json").read_text(encoding="utf-8"))
    if resources.get(args.function, {}).get("Type") != "AWS::Serverless::Function" or args.function not in variables:
        functions = sorted(k for k in variables if k != "Parameters")
        print(f"newsdrop invoke: no function {args.function!r}; one of {', '.join(functions)}", file=sys.stderr)
        return 2
    try:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"newsdrop invoke: cannot read {args.event}: {exc}", file=sys.stderr)
        return 2
    os.environ.update({**variables[args.function], "AWS_ENDPOINT_URL": args.endpoint})
    use_local_credentials()
    _quiet_local_warnings()
    logging.getLogger("newsdrop").setLevel(logging.INFO)  # the function's own lines, as Lambda logs them
    props = resources[args.function]["Properties"]
    spec = FunctionSpec(args.function, root / props["CodeUri"], props["Handler"], sources=[], environment={})
    response = spec.load()(event, LambdaContext(args.function))
    print(json.dumps(response, ensure_ascii=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from newsdrop.local.dev import project_root, queue_status, refresh_progress, rejections, use_local_credentials

    use_local_credentials()
    names = _names(args)
    table = Table(title="queues")
    for column in ("function", "waiting", "in flight", "dead letters"):
        table.add_column(column)
    for row in queue_status(project_root(), names, args.endpoint):
        table.add_row(row.function, str(row.waiting), str(row.in_flight), str(row.dead))
    console = Console()
    console.print(table)
    job = refresh_progress(names, args.endpoint)
    if job is not None:
        state = "done" if job.complete and job.refreshed >= job.listed else "in progress"
        listing = "" if job.complete else ", still listing posts"
        console.print(
            f"site-wide refresh (settings generation {job.generation}): "
            f"{min(job.refreshed, job.listed)} of {job.listed} posts read again{listing}, {state}"
        )
    reports = rejections(names, args.endpoint)
    console.print("last rejections:" if reports else "no rejections")
    for report in reports:
        console.print(f"  {report['at']}  {shown(report['key'])}: {shown(report['reason'])}", markup=False)
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from newsdrop.local.dev import EVENT_TARGETS, POST_SCHEDULES, project_root, redrive, use_local_credentials

    use_local_credentials()
    redriven = redrive(project_root(), _names(args), args.endpoint)
    where = {
        EVENT_TARGETS: "sent back to the queues EventBridge could not deliver them to",
        POST_SCHEDULES: "put on the bus, as the scheduler could not",
    }
    for name, count in redriven.sent.items():
        print(f"{name}: {count} {where.get(name, 'sent back from its dead-letter queue')}")
    for queue, count in redriven.kept.items():
        print(f"{queue}: {count} kept (nowhere to send them): read them with aws sqs receive-message")
    return 0


def _stack_options(command: argparse.ArgumentParser, *, endpoint: bool = True) -> None:
    if endpoint:
        command.add_argument(
            "--endpoint", default=DEFAULT_ENDPOINT, help=f"the local stack (default {DEFAULT_ENDPOINT})"
        )
    command.add_argument("--source-bucket", default="newsdrop-source")
    command.add_argument("--site-bucket", default="newsdrop-site")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="newsdrop", description="Drop a post into a bucket, get a static site.")
    commands = root.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the site from a folder laid out like the source bucket")
    build.add_argument("src", help="folder with _posts/, an optional _config.yml and optional _templates/")
    build.add_argument("--out", required=True, help="folder to write the site bucket's objects to")
    build.add_argument("--strict", action="store_true", help="exit 1 when any file was rejected")
    build.add_argument("--clean", action="store_true", help="empty OUT first (a folder a build filled from empty)")
    build.add_argument(
        "--jobs", type=_positive, default=_cpus(), help="processes reading posts (default: the CPUs this may use)"
    )
    build.set_defaults(run=_build)

    dev = commands.add_parser("dev", help="run the local stack: moto, the functions, and the site over HTTP")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for `sam local invoke`)")
    dev.add_argument("--s3-port", type=int, default=4566)
    dev.add_argument("--site-port", type=int, default=8080)
    dev.add_argument(
        "--posts",
        help="folder to publish at start, laid out like the source bucket (_config.yml, _templates/, _posts/)",
    )
    dev.add_argument(
        "--retry-after",
        type=int,
        default=5,
        help="seconds before a failed record is retried (AWS: the visibility timeout)",
    )
    dev.add_argument("--concurrency", type=int, default=1, help="concurrent invocations per function (default 1)")
    dev.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="start the stack's clock at this time (ISO 8601, e.g. 2024-05-20T09:00+08:00); it runs from there",
    )
    _stack_options(dev, endpoint=False)
    dev.set_defaults(run=_dev)

    publish = commands.add_parser("publish", help="upload a folder to the source bucket, with a progress bar")
    publish.add_argument("dir", help="laid out like the source bucket: _config.yml, _templates/, _posts/")
    publish.add_argument("--endpoint", default=None, help="endpoint URL (the local stack's); default: AWS")
    publish.add_argument("--bucket", default="newsdrop-source", help="the source bucket (default newsdrop-source)")
    publish.set_defaults(run=_publish)

    migrate = commands.add_parser(
        "import", help="upload a Jekyll site's _config.yml and _posts/ to the source bucket, with a progress bar"
    )
    migrate.add_argument("dir", help="the Jekyll site's folder (with _config.yml and _posts/)")
    migrate.add_argument("--endpoint", default=None, help="endpoint URL (the local stack's); default: AWS")
    migrate.add_argument("--bucket", default="newsdrop-source", help="the source bucket (default newsdrop-source)")
    migrate.set_defaults(run=_import)

    invoke = commands.add_parser(
        "invoke", help="run one function once with a payload of events/ against the local stack (no Docker)"
    )
    invoke.add_argument("function", help="the function's name in template.yaml (ParseFunction, RenderFunction, ...)")
    invoke.add_argument("event", help="the payload, e.g. events/parse-put.json")
    invoke.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"the local stack (default {DEFAULT_ENDPOINT})")
    invoke.set_defaults(run=_invoke)

    status = commands.add_parser(
        "status", help="queues, dead letters, site-wide refresh progress and the last rejections of the local stack"
    )
    _stack_options(status)
    status.set_defaults(run=_status)

    redrive = commands.add_parser(
        "redrive", help="send dead-lettered messages back to their queues, and dead post schedules to the bus"
    )
    _stack_options(redrive)
    redrive.set_defaults(run=_redrive)
    return root


def main(argv: list[str] | None = None, *, exits: bool = False) -> int:
    """The command's work; `exits`: the process ends right after (the `newsdrop` command), so a build
    may keep what it makes from the garbage collector (`InProcessPipeline.freeze_survivors`)."""
    args = parser().parse_args(argv)
    args.exits = exits
    # Structured logs are for Lambda; on the command line only problems matter.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("newsdrop").setLevel(logging.ERROR)
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    try:
        return int(args.run(args))
    except EndpointConnectionError as exc:
        local = (
            " (is the local stack running? `make run`)" if "127.0.0.1" in str(exc) or "localhost" in str(exc) else ""
        )
        print(f"newsdrop {args.command}: {exc}{local}", file=sys.stderr)
    except NoCredentialsError:
        print(
            f"newsdrop {args.command}: no AWS credentials (set AWS_PROFILE, or the AWS_ACCESS_KEY_ID pair)",
            file=sys.stderr,
        )
    return 1


def console() -> NoReturn:
    """The `newsdrop` command: main(), then the process's exit.

    A build ends holding its whole site in memory, and the interpreter's shutdown would free it
    object by object (about 0.2 s of a 10,000-post build, in a collection of the pipeline's cycles)
    only for the process to end. After a build the exit handlers run (multiprocessing's removes
    its socket folder; logging's flushes) and the output is flushed, then the process ends there."""
    code = main(exits=True)
    if sys.argv[1:2] != ["build"]:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
