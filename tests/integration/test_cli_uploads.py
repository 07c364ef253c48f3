"""`newsdrop publish` and `newsdrop import` upload a folder; what they leave out they name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from newsdrop.cli.main import main
from newsdrop.local.sources import LINKED_OUTSIDE


@pytest.mark.parametrize("command", ["publish", "import"])
def test_each_linked_file_left_out_is_named_and_not_uploaded(
    command: str, tmp_path: Path, moto_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    (site / "_posts").mkdir(parents=True)
    (site / "images").mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("not the site's")
    (site / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    (site / "images/chart.txt").write_text("the site's own")
    os.symlink(elsewhere / "secret.txt", site / "images/secret.txt")

    assert main([command, str(site)]) == 0
    err = capsys.readouterr().err
    assert "images/secret.txt" in err and LINKED_OUTSIDE in err
    listed = boto3.client("s3").list_objects_v2(Bucket=moto_stack.stack.names.source_bucket)
    keys = {o["Key"] for o in listed.get("Contents", [])}
    assert keys == {"_posts/2024-05-20-a.md", "images/chart.txt"}
