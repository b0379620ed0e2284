"""Artifact folders are replaced whole or not at all.

A conversion builds the complete new folder (model file + manifest.json) in a hidden sibling,
`.<name>.converting-<pid>-<random>`, in the same parent so that renames are atomic on one
filesystem; only when it is complete does `swap_into_place` rename the old folder aside
(`.<name>.replaced-<pid>-<random>`), rename the new one in and delete the old. An interrupt
(Ctrl+C, a failed validation, an exception) before the swap leaves the old folder untouched;
Ctrl+C/SIGTERM during the two renames is held until they are done.

A process killed outright (SIGKILL, power loss) leaves its sibling behind; `clean_stale`
removes those of the same artifact at the next conversion, once their process is gone (the
pid in the name), and puts an old folder back if the kill fell between the two renames.
A failed validation's artifact goes to `<folder>.failed` (see `failed_folder`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from pathlib import Path

from mobilekit.errors import MobilekitError

STAGING_MARK = ".converting-"
REPLACED_MARK = ".replaced-"
FAILED_SUFFIX = ".failed"
# What a folder written by mobilekit holds (and the staging folders older versions made
# inside it, and what macOS's Finder adds); anything else belongs to the user and is never
# replaced.
_ARTIFACT_ENTRIES = ("manifest.json", "manifest.json.tmp", "checkset", ".DS_Store")
_ARTIFACT_PREFIXES = ("model.", ".converting-", ".quantizing-")


def failed_folder(folder: Path) -> Path:
    """Where an artifact that failed validation is kept for inspection, beside `folder`."""
    return folder.with_name(folder.name + FAILED_SUFFIX)


def _is_artifact_entry(name: str) -> bool:
    return name in _ARTIFACT_ENTRIES or name.startswith(_ARTIFACT_PREFIXES)


def check_destination(folder: Path, option: str = "--out") -> Path:
    """Refuse, before any work, a destination that replacing would damage: a file, the
    current folder (or one above it), or a folder holding anything but an artifact.
    Returns the folder to write, with a symlink resolved so the link itself is kept."""
    if folder.is_symlink():
        folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise MobilekitError(f"{option} {folder} is a file, not a folder",
                             "give a folder for the artifact (it is created if missing)")
    existing = next(p for p in [folder, *folder.absolute().parents] if p.exists())
    if not existing.is_dir():  # e.g. model.pte/out: mkdir would fail only after the conversion
        raise MobilekitError(f"{option} {folder} is under {existing}, which is a file",
                             "give a folder whose parents are folders")
    if folder.is_dir():
        if Path.cwd().resolve().is_relative_to(folder.resolve()):
            raise MobilekitError(f"{option} {folder} is the current folder (or holds it); an artifact "
                                 "folder is replaced whole", f"give a subfolder, e.g. {option} {folder / 'artifact'}")
        foreign = sorted(p.name for p in folder.iterdir() if not _is_artifact_entry(p.name))
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise MobilekitError(f"{option} {folder} holds files that are not an artifact ({shown}); an artifact "
                                 "folder is replaced whole", "give a new or empty folder, or one written by mobilekit")
    return folder


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _sibling_pid(name: str, prefix: str) -> int | None:
    """The pid in `.<name><mark><pid>-<random>`; None when there is none (then it is stale)."""
    try:
        return int(name[len(prefix):].split("-", 1)[0])
    except ValueError:
        return None


def clean_stale(folder: Path) -> list[Path]:
    """Remove the staging siblings of `folder` left by processes that no longer run (ours by
    name); if a kill fell between the swap's renames, put the old folder back first.
    Returns what was removed or restored."""
    parent = folder.parent
    if not parent.is_dir():
        return []
    touched = []
    for mark in (REPLACED_MARK, STAGING_MARK):  # restore before anything else is removed
        prefix = f".{folder.name}{mark}"
        stale = []
        for p in parent.iterdir():
            if p.name.startswith(prefix):
                pid = _sibling_pid(p.name, prefix)
                if pid is None or not _pid_alive(pid):
                    stale.append(p)
        for p in sorted(stale, key=lambda p: p.lstat().st_mtime, reverse=True):
            if mark == REPLACED_MARK and not folder.exists():
                os.replace(p, folder)  # killed between "old aside" and "new in": the old one is whole
            elif p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            touched.append(p)
    return touched


def _sibling(folder: Path, mark: str) -> Path:
    return folder.with_name(f".{folder.name}{mark}{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def staging_folder(folder: Path):
    """A new, empty hidden sibling of `folder` to build the artifact in; removed on the way out
    unless it was swapped into place. Parent folders created for it are removed again when
    nothing was put in them, so a failed conversion leaves nothing behind."""
    created = []
    for p in reversed([folder.parent, *folder.parent.parents]):
        if not p.exists():
            created.append(p)
    staging = _sibling(folder, STAGING_MARK)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir()  # only while empty: anything put there since stays


@contextlib.contextmanager
def interrupts_held():
    """Hold SIGINT and SIGTERM until the block ends, then deliver them. A Python-level handler
    (not a thread signal mask) because the runtimes' worker threads would take the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if current is None or current == signal.SIG_IGN:  # not ours to change, or nothing to hold
            continue
        saved[sig] = signal.signal(sig, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            signal.raise_signal(sig)


def swap_into_place(staged: Path, folder: Path) -> None:
    """Replace `folder` (if any) with the complete folder `staged`, its sibling."""
    aside = _sibling(folder, REPLACED_MARK)
    try:
        with interrupts_held():
            if folder.exists():
                os.replace(folder, aside)
            os.replace(staged, folder)
    finally:
        if aside.exists():
            if folder.exists():
                shutil.rmtree(aside, ignore_errors=True)
            else:  # the second rename failed: the old folder goes back
                os.replace(aside, folder)
