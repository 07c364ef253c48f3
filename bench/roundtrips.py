"""Publishing with the services a network away: render's listings one at a time against side by side.

    python -m bench.roundtrips --corpus DIR --size N --round-trip-ms 0 10 --rounds 3 --repeats 5 --out FILE

In the local stack, S3, DynamoDB and EventBridge answer in the publishing process; on AWS each
request is a round trip to a service a few milliseconds away, which a thread waiting for it spends
asleep. Here every request a function makes waits `--round-trip-ms` first (a sleep, which lets
other threads run, as a socket's wait does), on the local stack of bench.localstack (in-process
moto, a seeded site of N posts). Each setting of `IO_CONCURRENCY` (render's listings derived one
at a time, or side by side) publishes `--repeats` posts in turns with the other, for `--rounds`
rounds at each round trip; the first publish after each switch is not timed (the functions' ports
are made again, and with them what they remember of the site's objects). The user's upload and the
pump's receives are not delayed: on AWS they are S3's and Lambda's, which no setting here changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import corpus, localstack

SETTINGS = (1, 8)  # IO_CONCURRENCY: one listing at a time, and the template's


def delay_requests(seconds: list[float]) -> None:
    """Every request of the functions' clients waits `seconds[0]` first (a list: changed between runs)."""
    from newsdrop.adapters import aws

    def wait(**_: Any) -> None:
        if seconds[0]:
            time.sleep(seconds[0])

    for service in ("s3", "dynamodb", "events", "cloudfront"):
        aws.client(service).meta.events.register("before-call", wait)


def use_concurrency(workers: int) -> None:
    """The functions' settings and ports made again, as a new execution environment would make them."""
    from newsdrop import runtime, settings

    os.environ["IO_CONCURRENCY"] = str(workers)
    settings.settings.cache_clear()
    runtime.aws_ports.cache_clear()


def run(args: argparse.Namespace) -> dict[str, Any]:
    source = corpus.Corpus(args.size, Path(args.corpus))
    local = localstack.start()
    base = localstack.load_seeded(local, source)
    publish = localstack.publisher(local)
    delay: list[float] = [0.0]
    delay_requests(delay)
    results: list[dict[str, Any]] = []
    for round_trip_ms in args.round_trip_ms:
        delay[0] = round_trip_ms / 1000
        samples: dict[int, list[float]] = {workers: [] for workers in SETTINGS}
        for round_number in range(args.rounds):
            for workers in SETTINGS:
                use_concurrency(workers)
                tag = f"rt{round_trip_ms}-{workers}-{round_number}"
                first, *timed = corpus.new_posts(1 + args.repeats, tag)
                publish(*first)
                for key, body in timed:
                    started = time.perf_counter()
                    publish(key, body)
                    samples[workers].append(time.perf_counter() - started)
        medians = {workers: statistics.median(found) for workers, found in samples.items()}
        results.append(
            {
                "round_trip_ms": round_trip_ms,
                "median_s": {str(workers): round(median, 5) for workers, median in medians.items()},
                "samples_s": {str(workers): [round(s, 5) for s in found] for workers, found in samples.items()},
                "ratio_one_at_a_time_to_side_by_side": round(medians[SETTINGS[0]] / medians[SETTINGS[-1]], 3),
            }
        )
    return {
        "size": args.size,
        "base_load": base,
        "settings": list(SETTINGS),
        "rounds": args.rounds,
        "repeats": args.repeats,
        "results": results,
        "handler_errors": local.pump.errors[:5],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrips")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--round-trip-ms", type=float, nargs="+", default=[0.0, 10.0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    localstack.aws_env()
    from moto import mock_aws

    with mock_aws():
        result = run(args)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
