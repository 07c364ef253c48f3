"""`newsdrop dev` (what `make run` starts) says which port is taken and stops, instead of waiting
for a server that could not bind."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from newsdrop.cli.main import main


@pytest.mark.parametrize("option", ["--s3-port", "--site-port"])
def test_a_port_in_use_is_named_and_the_stack_does_not_start(option: str, capsys: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = {"--s3-port": 0, "--site-port": 0}
        with socket.socket() as other:  # a free port for the other server
            other.bind(("127.0.0.1", 0))
            free = dict.fromkeys(free, other.getsockname()[1])
        free[option] = port
        args = ["dev", "--s3-port", str(free["--s3-port"]), "--site-port", str(free["--site-port"])]
        # In a thread of its own, so that a stack that did start (or wait for ever) fails the test
        # instead of holding it: `dev` then stops at setting its signal handlers, or times out here.
        outcome: list[Any] = []
        runner = threading.Thread(target=lambda: outcome.append(main(args)), daemon=True)
        runner.start()
        runner.join(timeout=60)
        assert outcome == [2]
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and option in err


def test_one_port_for_both_servers_is_refused_before_either_starts(capsys: Any) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    outcome: list[Any] = []
    runner = threading.Thread(
        target=lambda: outcome.append(main(["dev", "--s3-port", str(port), "--site-port", str(port)])), daemon=True
    )
    runner.start()
    runner.join(timeout=60)
    assert outcome == [2]
    assert f"cannot share port {port}" in capsys.readouterr().err


def test_the_banner_suggests_publishing_the_folder_the_stack_started_with() -> None:
    from newsdrop.local.dev import DevStack, project_root

    stack = DevStack(root=project_root())  # not started: the banner only names what it would serve
    assert "newsdrop publish 'my posts' --endpoint" in stack.banner("my posts")
    assert "newsdrop publish DIR --endpoint" in stack.banner()


def test_status_without_a_running_stack_says_so_in_one_line(capsys: Any) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once the socket is closed
    assert main(["status", "--endpoint", f"http://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("newsdrop status: Could not connect") and "make run" in err and "\n" not in err
