"""The host's speed probe each bench run records beside its figures (bench.machine)."""

from __future__ import annotations

from bench import machine, report


def test_the_probe_does_its_whole_work_in_each_round() -> None:
    probe = machine.python_probe(rounds=3)
    assert probe["counted"] == machine.PROBE_CHARS - 1  # every bigram of the text, counted and read back
    assert len(probe["samples_cpu_ms"]) == 3
    assert probe["median_cpu_ms"] == sorted(probe["samples_cpu_ms"])[1]
    assert all(sample > 0 for sample in probe["samples_cpu_ms"])


def test_a_run_records_the_probe_at_its_start_and_its_end() -> None:
    described = machine.describe()
    assert "python_probe_at_end" not in described
    machine.finish(described)
    start, end = described["python_probe_at_start"], described["python_probe_at_end"]
    text = report.probe_text(described)
    assert f"{start['median_cpu_ms']:.1f} ms at the start" in text
    assert f"{end['median_cpu_ms']:.1f} ms at the end" in text
    assert described["load_average_at_end"]


def test_results_from_before_the_probe_print_no_probe_line() -> None:
    assert report.probe_text({"date": "2026-12-01T00:00:00+00:00"}) == ""
    only_start = report.probe_text({"python_probe_at_start": {"median_cpu_ms": 41.25}})
    assert only_start.endswith("41.2 ms at the start")
