"""Reading a folder laid out like the source bucket."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsdrop import paths, source_keys
from newsdrop.adapters.folder import LinkInOutput, OutputFolder

log = logging.getLogger(__name__)

LINKED_OUTSIDE = "a link that leads outside the folder, not read: it could publish any file of this machine"
LINKED_LEFT_OUT = (
    "a link to a hidden file or into a folder that is left out, not read: it could publish what the folder"
    " keeps private (a checkout's .git/config, drafts)"
)
NOT_TEXT = "the file's name is not UTF-8 text, which an S3 key must be: not read"


def source_files(
    root: Path, *, leave_out: Path | None = None, refused: list[tuple[str, str]] | None = None
) -> Iterator[tuple[str, Path]]:
    """What `_source_files` lists, but names no S3 key can take (bytes that are not UTF-8, which
    Python holds as lone surrogates): each reported as a link leading outside is, and never read."""
    for key, path in _source_files(root, leave_out=leave_out, refused=refused):
        try:
            key.encode()
        except UnicodeEncodeError:
            if refused is not None:
                refused.append((key, NOT_TEXT))
            else:
                log.warning("left out %s: %s", source_keys.escaped(key), NOT_TEXT)
            continue
        yield key, path


def read_within(
    files: Iterable[tuple[str, Path]], limit: int, refused: list[tuple[str, str]]
) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) of each file; one larger than `limit` is reported into `refused` with the reason
    parse gives it, having read no more than `limit` + 1 bytes of it (a build holds every post it
    reads, and a file of gigabytes read whole would end it out of memory)."""
    from newsdrop.stages.parse import too_large

    for key, path in files:
        try:
            with path.open("rb") as file:
                body = file.read(limit + 1)
                size = os.fstat(file.fileno()).st_size
        except OSError as exc:  # gone or unreadable since the folder was listed
            refused.append((key, unreadable(exc)))
            continue
        if len(body) > limit:
            refused.append((key, too_large(key, max(len(body), size), limit)))
            continue
        yield key, body


def unreadable(exc: OSError, what: str = "file") -> str:
    return f"{what} cannot be read: {exc.strerror or exc}"


def _source_files(
    root: Path, *, leave_out: Path | None, refused: list[tuple[str, str]] | None
) -> Iterator[tuple[str, Path]]:
    """(bucket key, path) for what the source bucket holds: the site settings first, as they shape
    how posts are read and rendered (`_config.yml`, then the template overrides under `_templates/`),
    then `_posts/`, then the files the site serves as they are (images, PDFs: outside folders whose
    names start with `_`, which are never entered); each folder sorted. Nothing inside `leave_out`
    (a build's own output folder, which may sit inside the folder it builds) is listed.

    A linked file is read only where the walk itself would have listed its target: one whose target
    lies outside `root` is not read, as Jekyll reads none (a tree taken from someone else could
    otherwise publish `~/.aws/credentials`), nor one that leads to a hidden file or into a folder
    the walk leaves out (`images/a.txt -> ../.git/config` would publish a checkout's token). Those,
    and whatever cannot be read (a link loop, a folder without permission), are reported, as (key,
    reason), into `refused` when given, else as a warning."""
    skip = str(leave_out.resolve()) if leave_out is not None else None
    within = os.path.realpath(root)
    left: list[tuple[str, str]] = []
    config = root / source_keys.CONFIG_KEY
    real_config = os.path.realpath(config)
    if config.is_file() and not _inside(real_config, skip):
        reason = _link_refusal(real_config, within, served=False) if config.is_symlink() else ""
        if reason:
            left.append((source_keys.CONFIG_KEY, reason))
        else:
            yield source_keys.CONFIG_KEY, config
    for prefix in (source_keys.TEMPLATES_PREFIX, source_keys.POSTS_PREFIX):
        folder = str(root / prefix)
        real = os.path.realpath(folder)
        if (root / prefix).is_dir() and not _inside(real, within):  # `_posts` itself a link to elsewhere
            left.append((prefix, LINKED_OUTSIDE))
            continue
        for parts, path, reason in sorted(_files(folder, real=real, skip=skip, within=within)):
            if reason:
                left.append((prefix + "/".join(parts), reason))
            else:
                yield prefix + "/".join(parts), Path(path)
    served = _files(str(root), real=within, skip=skip, within=within, left_out=source_keys.LEFT_OUT)
    for parts, path, reason in sorted(served):
        key = "/".join(parts)
        if reason and (key.endswith("/") or source_keys.is_file_key(key)):
            left.append((key, reason))
        elif not reason and source_keys.is_file_key(key):
            yield key, Path(path)
    for key, reason in left:
        if refused is not None:
            refused.append((key, reason))
        else:
            log.warning("left out %s: %s", key, reason)


def _inside(real: str, skip: str | None) -> bool:
    return skip is not None and (real == skip or real.startswith(_below(skip, "")))


def _below(folder: str, name: str) -> str:
    return f"{folder.rstrip(os.sep)}{os.sep}{name}"  # strings, not `Path`s: see `_files`


def _link_refusal(target: str, within: str, *, served: bool) -> str:
    """Why a linked file whose real path is `target` is not read ("" when it is). It must lie inside
    `within`, under no hidden name; a link among the served files (`served`) must lead to one (under
    no name the walk leaves out, as `_posts/` is: a post's source is not served as it is), and one
    among the settings, posts or templates to one of those or a served file (never `_drafts/`)."""
    if not _inside(target, within):
        return LINKED_OUTSIDE
    parts = Path(target).relative_to(within).parts
    listed = f"{parts[0]}/" in (source_keys.TEMPLATES_PREFIX, source_keys.POSTS_PREFIX) or parts == (
        source_keys.CONFIG_KEY,
    )
    below = parts[1:] if listed and not served else parts
    return LINKED_LEFT_OUT if any(p.startswith((".", *source_keys.LEFT_OUT)) for p in below) else ""


def _files(
    top: str, *, real: str, skip: str | None, within: str, left_out: str = "."
) -> Iterator[tuple[list[str], str, str]]:
    """(path components below `top`, path, "") for every file under `top` (whose path without links
    is `real`) but those under a name that starts with one of `left_out`, or inside `skip`; a linked
    file the walk would not have listed where it leads (`_link_refusal`), or what cannot be read,
    comes as (components, "", why), a folder's with a trailing "" component. Like `Path.rglob`,
    linked folders are not entered; like Jekyll, hidden files and folders (`.DS_Store`, `.git/`)
    are always left out. A stack, not recursion: a tree may nest deeper than Python's stack. Directory
    entries rather than `Path` objects, and a file's real path from its folder's unless it is a link:
    a build of 10,000 posts spent 0.4 s making and comparing paths here, and 1 s resolving each file's."""
    pending: list[tuple[str, list[str], str]] = [(top, [], real)]
    while pending:
        folder, inside, real_folder = pending.pop()
        if _inside(real_folder, skip):
            continue
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # reported as the folder's key ("images/private/"), as a file's would be
            yield [*inside, ""], "", unreadable(exc, "folder")
            continue
        for entry in entries:
            if entry.name.startswith((".", *left_out)):
                continue
            parts = [*inside, entry.name]
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, parts, _below(real_folder, entry.name)))
                    continue
                if not entry.is_file():
                    continue
                linked = entry.is_symlink()
            except OSError as exc:  # a link loop, a link through a file, a name too long
                yield parts, "", f"cannot be read: {exc.strerror or exc}"
                continue
            target = os.path.realpath(entry.path) if linked else _below(real_folder, entry.name)
            reason = _link_refusal(target, within, served=left_out != ".") if linked else ""
            if reason:
                yield parts, "", reason
            elif not _inside(target, skip):
                yield parts, entry.path, ""


@dataclass
class Copied:
    count: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (key, reason), as parse reports them
    unwritable: dict[str, str] = field(default_factory=dict)  # key -> why this folder cannot hold it


def copy_files(files: Iterable[tuple[str, Path]], out: Path) -> Copied:
    """`newsdrop build`'s copies of the files the site serves as they are: each checked as parse
    checks it and copied to its key under `out`, the bytes render copies to the site bucket, from
    file to file (a site's images never all in memory)."""
    done = Copied()
    folder = OutputFolder(out)
    for key, path in files:
        try:
            refusal = paths.file_refusal(key, path.stat().st_size)
        except OSError as exc:  # gone or unreadable since the folder was listed
            done.refused.append((key, unreadable(exc)))
            continue
        if refusal is not None:
            done.refused.append((key, refusal))
            continue
        try:
            shutil.copyfile(path, folder.prepare(key))
        except LinkInOutput as exc:
            done.unwritable[key] = f"{exc.strerror}: {exc.filename}"
            continue
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            done.unwritable[key] = "a file and a folder of the same name cannot both be in a folder"
            continue
        except OSError as exc:
            done.unwritable[key] = f"cannot be copied: {exc.strerror or exc}"
            continue
        done.count += 1
    return done
