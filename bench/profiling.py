"""pyinstrument around a few publishes: the full text profile to a file, the top frames into the results."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

INTERVAL = 0.0005
TOP = 12


def profile(run: Callable[[], None], out: Path, *, title: str) -> dict[str, Any] | None:
    """Run `run` under pyinstrument; write the call tree to `out`; return the top frames by own time."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    profiler = Profiler(interval=INTERVAL)
    profiler.start()
    try:
        run()
    finally:
        profiler.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    out.write_text(f"{title}\n\n{text}", encoding="utf-8")
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return None
    return {
        "profile": str(out),
        "total_s": round(root.time, 4),
        "top_self": top_self(root),
        "top_newsdrop": top_cumulative(root, "newsdrop/"),
    }


def top_self(root: Any, limit: int = TOP) -> list[dict[str, Any]]:
    """Functions by the time spent in their own code (not in what they call), summed over the tree."""
    own: dict[str, float] = defaultdict(float)
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        frame, parent = stack.pop()
        # pyinstrument shows a function's own time as a synthetic "[self]" child: credit the parent.
        key = parent if getattr(frame, "is_synthetic", False) and parent else _key(frame)
        children = list(frame.children)
        stack.extend((child, key) for child in children)
        spent = frame.time - sum(c.time for c in children)
        if spent > 0:
            own[key] += spent
    ranked = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    total = root.time or 1.0
    return [{"frame": name, "self_s": round(t, 4), "share": round(t / total, 3)} for name, t in ranked]


def _key(frame: Any) -> str:
    return f"{frame.function}  {frame.file_path_short}:{frame.line_no}"


def top_cumulative(root: Any, path_part: str, limit: int = TOP) -> list[dict[str, Any]]:
    """Functions whose file path contains `path_part`, by the time spent in them and what they call."""
    spent: dict[str, float] = defaultdict(float)
    stack: list[tuple[Any, frozenset[str]]] = [(root, frozenset())]
    while stack:
        frame, open_keys = stack.pop()
        key = _key(frame)
        if path_part in (frame.file_path or "") and key not in open_keys:  # count recursion once
            spent[key] += frame.time
            open_keys = open_keys | {key}
        stack.extend((child, open_keys) for child in frame.children)
    ranked = sorted(spent.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    total = root.time or 1.0
    return [{"frame": name, "total_s": round(t, 4), "share": round(t / total, 3)} for name, t in ranked]
