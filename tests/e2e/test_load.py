"""A scaled-down load test through the local stack (the full one is `make load`): concurrent clients
upload, update and delete while the pipeline runs, with two invocations per function side by side."""

from __future__ import annotations

from bench.load import run_load


def test_concurrent_clients_converge_to_a_fresh_build_with_empty_dlqs() -> None:
    result = run_load(posts=60, clients=4, concurrency=2, churn=0.2)
    assert result.deletes > 0 and result.updates > 0
    assert result.mismatched == []
    assert result.equal_to_fresh_build
    assert result.dead_letters == 0
    assert result.site_objects > 60
