"""The end of a run: the results JSON, the chart, and a plain-text table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import goals, paths

SERIES = (
    # (label, marker, colour)
    ("newsdrop, one post (local adapters)", "o", "tab:blue"),
    ("newsdrop, one post (local stack, moto)", "s", "tab:green"),
    ("Hugo, full rebuild", "^", "tab:orange"),
    ("Jekyll, full rebuild", "v", "tab:red"),
)


def write_json(results: dict[str, Any], name: str) -> Path:
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    out = paths.RESULTS / f"{name}.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else "-"


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def rebuild_times(results: dict[str, Any], tool: str) -> dict[int, float]:
    times = {}
    for size, row in (results.get("bulk") or {}).items():
        wall = (row.get(tool) or {}).get("wall_s")
        if wall:
            times[int(size)] = float(wall)
    for size, row in (results.get("rebuild_only") or {}).items():
        wall = (row.get(tool) or {}).get("wall_s")
        if wall:
            times[int(size)] = float(wall)
    return dict(sorted(times.items()))


def latency_points(results: dict[str, Any], key: str) -> list[tuple[int, float, float]]:
    rows = (results.get("incremental") or {}).get(key) or []
    return [(int(r["size"]), r["latency"]["median_s"], r["latency"]["p95_s"]) for r in rows if r.get("latency")]


def chart(results: dict[str, Any], name: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed; no chart", flush=True)
        return None
    figure, axes = plt.subplots(figsize=(8, 5.2))
    points = [
        latency_points(results, "local_adapters"),
        latency_points(results, "local_stack"),
        [(s, t, t) for s, t in rebuild_times(results, "hugo").items()],
        [(s, t, t) for s, t in rebuild_times(results, "jekyll").items()],
    ]
    for (label, marker, colour), series in zip(SERIES, points, strict=True):
        if not series:
            continue
        sizes = [p[0] for p in series]
        medians = [p[1] for p in series]
        below: list[float] = [0.0] * len(series)
        above: list[float] = [p[2] - p[1] for p in series]
        axes.errorbar(sizes, medians, yerr=[below, above], label=label, marker=marker, color=colour, capsize=3)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("posts already on the site")
    axes.set_ylabel("seconds until the site shows the new post")
    machine = results.get("machine", {})
    axes.set_title(
        f"Publishing one post: newsdrop (median, bar to p95) vs a full rebuild\n"
        f"{machine.get('date', '')[:10]}, {machine.get('nproc')} CPUs ({machine.get('cpu_model', '')}),"
        f" mode {results.get('mode')}",
        fontsize=9,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out = paths.RESULTS / f"{name}.png"
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _table(headers: list[str], rows: list[list[str]], *, left: int = 1) -> str:
    """A plain-text table; the first `left` columns align left, the others right."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join(x.rstrip() for x in [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _function(name: str) -> str:
    return name.lower().removesuffix("function")


def bulk_table(results: dict[str, Any]) -> str:
    rows = []
    for size, row in (results.get("bulk") or {}).items():
        nd = row.get("newsdrop") or {}
        for tool in ("newsdrop", "hugo", "jekyll"):
            data = row.get(tool)
            if not data:
                continue
            wall = data.get("wall_s")
            versus = f"{wall / nd['wall_s']:.2f}" if wall and nd.get("wall_s") else "-"
            rows.append(
                [
                    f"{int(size):,}",
                    tool,
                    _s(wall),
                    _s(data.get("sys_s")),
                    _mib(data.get("peak_rss_bytes")),
                    _mib((data.get("tree_memory") or {}).get("peak_pss_bytes")),
                    str(data.get("files_written")),
                    versus,
                ]
            )
    headers = ["posts", "tool", "wall", "kernel", "peak RSS", "all processes (PSS)", "files", "x newsdrop"]
    return _table(headers, rows, left=2)


def incremental_table(results: dict[str, Any]) -> str:
    hugo, jekyll = rebuild_times(results, "hugo"), rebuild_times(results, "jekyll")
    rows = []
    for key, label in (
        ("local_adapters", "local adapters"),
        ("local_stack", "local stack"),
        ("local_stack_flow", "local stack*"),
    ):
        for row in (results.get("incremental") or {}).get(key) or []:
            size, median = int(row["size"]), row["latency"]["median_s"]
            rows.append(
                [
                    f"{size:,}",
                    label,
                    _s(median),
                    _s(row["latency"]["p95_s"]),
                    _s(hugo.get(size)),
                    f"{hugo[size] / median:.1f}x" if size in hugo else "-",
                    _s(jekyll.get(size)),
                    f"{jekyll[size] / median:.1f}x" if size in jekyll else "-",
                ]
            )
    return _table(
        ["posts", "newsdrop via", "median", "p95", "Hugo rebuild", "speedup", "Jekyll rebuild", "speedup"], rows
    )


def requests_table(results: dict[str, Any]) -> str:
    names: list[str] = []
    columns = []
    for key in ("local_adapters", "local_stack"):
        for row in (results.get("incremental") or {}).get(key) or []:
            columns.append((f"{key.split('_')[1]}@{int(row['size']) // 1000}k", row))
            names.extend(n for n in row["requests"] if n not in names)
    rows = [[name, *[str(r["requests"].get(name, 0)) for _, r in columns]] for name in sorted(names)]
    rows.append(
        ["bytes written (median)", *[str((r.get("bytes_written") or {}).get("median", "-")) for _, r in columns]]
    )
    invocations = [", ".join(f"{_function(k)} {v}" for k, v in sorted(r["invocations"].items())) for _, r in columns]
    rows.append(["invocations", *invocations])
    rows.append(["scheduled compaction after it (mean requests)", *[_tick_requests(r) for _, r in columns]])
    rows.append(["DynamoDB request units (median read / write)", *[_units(r) for _, r in columns]])
    return _table(["per single publish", *[c for c, _ in columns]], rows)


def _units(row: dict[str, Any]) -> str:
    """Counted through moto only (`bench.units`): the local adapters' runs have no DynamoDB items."""
    units = row.get("request_units")
    if not units:
        return "-"
    return f"{units['read']['median']:g} / {units['write']['median']:g}"


def _tick_requests(row: dict[str, Any]) -> str:
    ticks = row.get("scheduled_compaction")
    if not ticks:
        return "-"
    total = goals.request_total(ticks["requests_mean"])
    return f"{total:.1f} ({ticks['runs_writing']}/{ticks['runs']} write)"


def round_trip_table(results: dict[str, Any]) -> str:
    data = results.get("round_trips") or {}
    rows = []
    for row in data.get("results", []):
        medians = row["median_s"]
        rows.append(
            [
                f"{row['round_trip_ms']:g} ms",
                *(f"{medians[str(workers)] * 1000:.1f} ms" for workers in data["settings"]),
                f"{row['ratio_one_at_a_time_to_side_by_side']:.2f}x",
            ]
        )
    headers = [
        "round trip",
        *(f"IO_CONCURRENCY={workers}" for workers in data.get("settings", [])),
        "one at a time / side by side",
    ]
    return _table(headers, rows) if rows else "(not measured)"


def cold_table(results: dict[str, Any]) -> str:
    cold = results.get("cold_start") or {}
    versions = [("", cold), *([(" (baseline)", cold["baseline"])] if cold.get("baseline") else [])]
    rows = []
    for suffix, data in versions:
        for name, row in (data.get("imports") or {}).items():
            rows.append(
                [
                    f"{name}{suffix}",
                    f"{row['median_ms']:.0f} ms",
                    f"{row.get('median_cpu_ms', 0):.0f} ms",
                    f"{row.get('median_ms_bytecode_cached', 0):.0f} ms",
                    f"{row['median_ms_bare']:.0f} ms" if "median_ms_bare" in row else "-",
                ]
            )
        layer = (data.get("sizes") or {}).get("layer") or {}
        if layer:
            rows.append(
                [
                    f"layer{suffix}",
                    f"{layer['bytes'] / 1e6:.1f} MB",
                    "",
                    f"{layer['zipped_bytes'] / 1e6:.1f} MB zipped",
                    "",
                ]
            )
    headers = ["handler", "import as deployed (median)", "its CPU time", "with bytecode cached", "nothing loaded first"]
    return _table(headers, rows)


def _kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f} KB"


def search_table(results: dict[str, Any]) -> str:
    rows = []
    for size, entry in ((results.get("search") or {}).get("sizes") or {}).items():
        summary, index, publish = entry["summary"], entry["index"], entry["per_publish"]
        reads = publish["query_index_reads"]
        rows.append(
            [
                f"{int(size):,}",
                f"{index['bytes'] / 1e6:.1f} MB, {index['objects']:,} files",
                f"{_kb(summary['median_gzip_bytes'])} / {_kb(summary['max_gzip_bytes'])}",
                f"{summary['median_requests']} / {summary['max_requests']}",
                f"{summary['min_recall']:.2f}",
                f"{publish['new']['s3_puts']['mean']:.1f} / {publish['new']['s3_puts']['max']}",
                f"{publish['new']['search_written']['mean']:.2f} + {publish['new']['search_deleted']['mean']:.2f}",
                f"{reads['files']['max']}, {_kb(reads['gzip_bytes']['max'])}",
            ]
        )
    headers = [
        "posts",
        "index",
        "cold query gzip (median / max)",
        "requests",
        "recall",
        "PUTs per publish (mean / max)",
        "search files written + deleted",
        "index files a query reads, at most",
    ]
    return _table(headers, rows)


def goals_table(results: dict[str, Any]) -> str:
    mark = {True: "met", False: "MISSED", None: "n/a"}
    rows = [[mark[g["met"]], g["goal"], g["value"], g["margin"]] for g in results.get("goals", [])]
    return _table(["", "goal", "measured", "margin"], rows, left=4)


def probe_text(machine: dict[str, Any]) -> str:
    """The host's speed for Python in this run (bench/machine.py's probe), or "" where it was not measured."""
    ends = [(when, machine.get(f"python_probe_at_{when}")) for when in ("start", "end")]
    measured = [f"{probe['median_cpu_ms']:.1f} ms at the {when}" for when, probe in ends if probe]
    return f"Python probe (a fixed piece of work, CPU time): {', '.join(measured)}" if measured else ""


def print_tables(results: dict[str, Any]) -> None:
    machine = results.get("machine", {})
    print(
        f"\nnewsdrop bench ({results.get('mode')}), {machine.get('date')}, {machine.get('nproc')} CPUs "
        f"{machine.get('cpu_model')}, {(machine.get('memory_bytes') or 0) / 2**30:.0f} GiB RAM"
    )
    probe = probe_text(machine)
    if probe:
        print(probe)
    output = machine.get("build_output")
    if output:
        print(f"builds written to {output['folder']} ({output['filesystem'] or 'file system unknown'})")
    for title, render in (
        ("Bulk build", bulk_table),
        ("One new post", incremental_table),
        ("AWS requests per publish", requests_table),
        ("One new post with each request a round trip away (median)", round_trip_table),
        ("Search", search_table),
        ("Cold start", cold_table),
        ("Goals (issue 6)", goals_table),
    ):
        print(f"\n{title}\n{render(results)}")
    for note in results.get("notes", []):
        print(f"note: {note}")
