"""Deterministic chaos for the pipeline: interleaved workers, injected faults, at-least-once delivery.

`Interleaver` runs several stage invocations in threads but lets exactly one proceed at a
time, switching only at port calls, in an order the test chooses: a reproducible model of
Lambda running batches side by side. `Faulty` wraps a port so that one chosen call fails,
before or after it takes effect: a model of an invocation that dies half way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from newsdrop.ports import BusEvent, KnownHeads, Ports


class InjectedFault(RuntimeError):
    """The failure a test injected."""


class Interleaver:
    def __init__(self, choose: Callable[[int], int]) -> None:
        self.choose = choose
        self.cond = threading.Condition()
        self.waiting: set[int] = set()
        self.done: set[int] = set()
        self.granted: int | None = None
        self.local = threading.local()

    def point(self) -> None:
        """Called before every port call: wait until the scheduler lets this worker go on."""
        me = getattr(self.local, "worker", None)
        if me is None:
            return
        with self.cond:
            self.waiting.add(me)
            if self.granted == me:
                self.granted = None
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.granted == me)
            self.waiting.discard(me)

    def run(self, jobs: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = [(False, None)] * len(jobs)

        def body(index: int, job: Callable[[], Any]) -> None:
            self.local.worker = index
            self.point()
            try:
                results[index] = (True, job())
            except BaseException as exc:
                results[index] = (False, exc)
            finally:
                with self.cond:
                    self.done.add(index)
                    self.granted = None
                    self.cond.notify_all()

        threads = [threading.Thread(target=body, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        with self.cond:
            while True:
                # Generous: a loaded machine is slow, and a worker left running would race unscheduled.
                self.cond.wait_for(
                    lambda: self.granted is None and len(self.waiting) + len(self.done) == len(jobs), timeout=900
                )
                if len(self.done) == len(jobs):
                    break
                if self.granted is not None or len(self.waiting) + len(self.done) != len(jobs):
                    raise RuntimeError("interleaver stalled")
                candidates = sorted(self.waiting)
                self.granted = candidates[self.choose(len(candidates))]
                self.cond.notify_all()
        for thread in threads:
            thread.join(timeout=900)
            if thread.is_alive():
                raise RuntimeError("a worker did not finish")
        return results


@dataclass
class FaultPlan:
    """Fail the `at`-th port call of one invocation, before or after the call takes effect."""

    at: int | None
    after: bool = False
    calls: int = 0


@dataclass
class Faulty:
    inner: Any
    plan: FaultPlan
    scheduler: Interleaver | None = None

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.scheduler is not None:
                self.scheduler.point()
            index = self.plan.calls
            self.plan.calls += 1
            if index == self.plan.at and not self.plan.after:
                raise InjectedFault(f"{name} failed before taking effect")
            result = target(*args, **kwargs)
            if index == self.plan.at and self.plan.after:
                raise InjectedFault(f"{name} took effect, then the invocation died")
            return result

        return call


@dataclass
class CaptureBus:
    """EventBridge as the stages see it: PutEvents either delivers every entry or raises."""

    delivered: list[BusEvent] = field(default_factory=list)

    def publish(self, events: Sequence[BusEvent]) -> None:
        self.delivered.extend(events)


def faulty_ports(
    ports: Ports,
    plan: FaultPlan,
    scheduler: Interleaver | None,
    bus: CaptureBus,
    site_heads: KnownHeads | None = None,
) -> Ports:
    """`ports` with every call a possible fault and a scheduling point. `site_heads`: what the
    execution environment running the invocation remembers of the site's objects from its
    earlier invocations (a fresh environment remembers nothing)."""

    def wrap(port: Any) -> Any:
        return Faulty(port, plan, scheduler)

    return Ports(
        source=wrap(ports.source),
        site=wrap(ports.site),
        artifacts=wrap(ports.artifacts),
        catalog=wrap(ports.catalog),
        bus=wrap(bus),
        max_post_bytes=ports.max_post_bytes,
        cdn=ports.cdn,
        site_heads=KnownHeads() if site_heads is None else site_heads,
    )
