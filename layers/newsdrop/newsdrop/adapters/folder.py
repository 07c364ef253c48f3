"""A folder that a build writes a site's keys into, and never through a link.

The output folder of `newsdrop build` is usually inside the source tree (Jekyll's `_site`), and a
tree taken from someone else may hold links there: `_site/img -> ~/.ssh` would turn the copy of
`img/authorized_keys`, or a post's page at that permalink, into a write anywhere on the machine.
Every folder between the root and a file is checked once (not once per file) to be a real folder;
a link in a file's own place is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


class LinkInOutput(OSError):
    """A folder on a key's path is a link (or not a folder), or the key leads above the folder: the
    key is not written."""


# A key whose every part is a name (none empty, none starting with "."): `open` writes its path and
# folder as strings, which are then what `path` makes of them.
_PLAIN_KEY = re.compile(r"[^/.][^/]*(?:/[^/.][^/]*)*")


@dataclass
class OutputFolder:
    root: Path
    _checked: set[Path] = field(default_factory=set, repr=False)  # real folders under the root, made or found
    # The same folders as `open` names them (a build opens tens of thousands of files: no Path for each).
    _checked_names: set[str] = field(default_factory=set, repr=False)

    def path(self, key: str) -> Path:
        parts = key.split("/")
        if ".." in parts:  # `_folder` compares paths as text, which a ".." would pass
            raise LinkInOutput(errno.EXDEV, "a '..' in the key leads above the output folder", key)
        return self.root.joinpath(*parts)

    def prepare(self, key: str) -> Path:
        """The file of `key`, its folders made and checked; raises LinkInOutput, or NotADirectoryError
        where a file has a folder's name."""
        path = self.path(key)
        self._folder(path.parent)
        if path.is_symlink():  # a link in the file's place: replaced, never written through
            path.unlink()
        return path

    def open(self, key: str) -> int:
        """A descriptor to write `key`'s file from the start (os.open, not Path.write_bytes: a build
        writes tens of thousands of files, and a buffered file object adds three system calls to each)."""
        if _PLAIN_KEY.fullmatch(key):
            path = f"{self.root}/{key}"
            folder = path.rpartition("/")[0]
            if folder not in self._checked_names:
                self._folder(Path(folder))
                self._checked_names.add(folder)
        else:  # "/a", "a//b", "a/./b", "a/": as `Path` reads them, and never remembered by name
            whole = self.path(key)
            self._folder(whole.parent)
            path = str(whole)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return os.open(path, flags, 0o666)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
        Path(path).unlink()  # the file's place held a link: the link goes, its target is left alone
        return os.open(path, flags, 0o666)

    def remove(self, key: str) -> None:
        """`key`'s file, and the folders it leaves empty, as on S3 (where they never were): a later
        key of one of their names is then a file that can be written."""
        try:
            path = self.path(key)
        except LinkInOutput:
            return  # never written
        if not self._real(path.parent):
            return  # reached through a link (or never made): whatever lies there is not the build's
        with contextlib.suppress(IsADirectoryError, NotADirectoryError):  # never written as a file
            path.unlink(missing_ok=True)
        for folder in path.parents:
            if folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): neither are the folders above it
                break
            self._checked.discard(folder)  # made (and checked) again if a later key needs it
            self._checked_names.clear()  # they name folders as keys do: forget them all, rarely

    def _real(self, folder: Path) -> bool:
        """Whether `folder` is the root, or a real folder below it whose every folder up to the root
        is one too: `_folder`'s check, for a folder that is to be emptied rather than made."""
        if folder == self.root or folder in self._checked:
            return True
        if not folder.is_relative_to(self.root) or folder.is_symlink() or not folder.is_dir():
            return False
        return self._real(folder.parent)

    def _folder(self, folder: Path) -> None:
        if folder in self._checked:
            return
        if folder == self.root:  # the folder the command named, made if need be, links and all
            folder.mkdir(parents=True, exist_ok=True)
            self._checked.add(folder)
            return
        if not folder.is_relative_to(self.root):
            raise LinkInOutput(errno.EXDEV, "outside the output folder", str(folder))
        self._folder(folder.parent)  # from the root down: no folder is made under a link
        try:
            folder.mkdir()
        except FileExistsError:
            if folder.is_symlink():
                link = "a link in the output folder, never written through"
                raise LinkInOutput(errno.ELOOP, link, str(folder)) from None
            if not folder.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder)) from None
        self._checked.add(folder)
