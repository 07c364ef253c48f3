"""`newsdrop build | dev | publish | status | redrive`."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from newsdrop.local.sources import source_files


def _build(args: argparse.Namespace) -> int:
    from newsdrop.local.inprocess import InProcessPipeline

    src = Path(args.src)
    if not src.is_dir():
        print(f"newsdrop build: {src} is not a folder", file=sys.stderr)
        return 2
    pipeline = InProcessPipeline()
    for key, path in source_files(src):
        pipeline.upload(key, path.read_bytes())
    pipeline.drain()
    out = Path(args.out)
    if out.exists() and args.clean:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    count = pipeline.site.write_to(out)
    for key, reason in pipeline.rejections:
        print(f"rejected {key}: {reason}", file=sys.stderr)
    published = len(pipeline.catalog.entries("all"))
    print(f"built {published} posts into {count} files in {out} ({len(pipeline.rejections)} rejected)", file=sys.stderr)
    if pipeline.dead_letters:
        print(f"newsdrop build: messages failed repeatedly: {pipeline.dead_letters}", file=sys.stderr)
        return 1
    return 1 if args.strict and pipeline.rejections else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="newsdrop", description="Drop a post into a bucket, get a static site.")
    commands = root.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the site from a folder laid out like the source bucket")
    build.add_argument("src", help="folder with _posts/ and an optional _config.yml")
    build.add_argument("--out", required=True, help="folder to write the site bucket's objects to")
    build.add_argument("--strict", action="store_true", help="exit 1 when any file was rejected")
    build.add_argument("--clean", action="store_true", help="empty OUT first")
    build.set_defaults(run=_build)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Structured logs are for Lambda; on the command line only problems matter.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("newsdrop").setLevel(logging.ERROR)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
