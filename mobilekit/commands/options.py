"""Option types and checks the commands share, so that bad input is refused while the command
line is parsed, in one line (cli.MobilekitGroup prints click's usage errors and MobilekitErrors
as `error: ...`), before any work: counts with their minimum, --classes, --input-shape, and
output paths that cannot be written.

No torch here (`mobilekit --help` stays instant): the shape and classes types import
converters.source, where the rules live for library callers too, only when the option is given.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from mobilekit.errors import MobilekitError

POSITIVE = click.IntRange(min=1)      # frames, sizes, classes, samples, threads, timed runs
NON_NEGATIVE = click.IntRange(min=0)  # warm-up and latency runs (0: none)
# Host runtime threads: the runtimes size a process-wide pool from it before anything runs,
# so a typo (--threads 1000000) would start a million threads; no host here has 1024 cores.
THREADS = click.IntRange(min=1, max=1024)


class InputShape(click.ParamType):
    """--input-shape 1,8,3,112,112 (or 1x8x3x112x112) -> [1, 8, 3, 112, 112]."""

    name = "B,T,C,H,W"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        from converters.source import parse_shape

        return parse_shape(str(value))


class Classes(click.ParamType):
    """--classes 174 -> 174; --classes verb=97,noun=300 -> {'verb': 97, 'noun': 300}."""

    name = "N|HEAD=N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, (int, dict)):
            return value
        from converters.source import parse_classes

        return parse_classes(str(value))


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p
    return Path(".")


def _probe_writable(folder: Path, option: str, path: Path) -> None:
    """Ask the filesystem, not the permission bits: os.access says yes to root on a read-only
    mount such as /sys. The probe entry is removed at once."""
    try:
        probe = tempfile.mkdtemp(prefix=".mobilekit-probe-", dir=folder)
    except OSError as e:
        raise MobilekitError(f"{option} {path} cannot be written: {folder} refuses new files "
                             f"({e.strerror or type(e).__name__})",
                             "give a path in a folder you can write, or fix its permissions") from None
    os.rmdir(probe)


def check_writable(path: str | Path, option: str = "--out", *, folder: bool) -> Path:
    """Refuse an output the command could not write at its end (after minutes of work): a
    path under a file, a file where a folder goes (or the reverse), or a read-only place.
    Nothing is left behind; missing parent folders are fine (they are created when written)."""
    if "\x00" in str(path):  # the OS takes no NUL in a path (os.stat raises ValueError)
        raise MobilekitError(f"{option} {str(path)!r} contains a NUL character", "give a path without it")
    path = Path(path)
    existing = _nearest_existing(path)
    if existing == path:
        if folder and not path.is_dir():
            raise MobilekitError(f"{option} {path} is a file, not a folder",
                                 "give a folder (it is created if missing)")
        if not folder and path.is_dir():
            raise MobilekitError(f"{option} {path} is a folder, not a file",
                                 f"give a file name, e.g. {option} {path / 'results.json'}")
        if not folder and path.is_file():  # (not a FIFO or device: opening one could block)
            try:
                with open(path, "a"):  # appends nothing: the file stays as it is
                    pass
            except OSError as e:
                raise MobilekitError(f"{option} {path} cannot be written ({e.strerror or type(e).__name__})",
                                     "give another file, or fix its permissions") from None
        # Replacing it writes its parent too (an artifact folder is built beside it and swapped in).
        existing = _nearest_existing(path.parent) if str(path.parent) != str(path) else path
    if not existing.is_dir():
        raise MobilekitError(f"{option} {path} is inside {existing}, which is a file",
                             "give a path whose parent folders are folders")
    _probe_writable(existing, option, path)
    return path


def writable_folder(ctx: click.Context, param: click.Parameter, value):
    """click callback: an --out folder that can be written (None: the command's default)."""
    return None if value is None else check_writable(value, f"--{param.name.replace('_', '-')}", folder=True)


def writable_file(ctx: click.Context, param: click.Parameter, value):
    """click callback: an --out file that can be written (None: the command's default)."""
    return None if value is None else check_writable(value, f"--{param.name.replace('_', '-')}", folder=False)


# --checkpoint-weights on convert, check and quantize: an official release (PyTorchVideo,
# PySlowFast, ...) loaded into a zoo model by create_model(name, checkpoint=FILE).
checkpoint_weights_option = click.option(
    "--checkpoint-weights", "checkpoint_weights", type=click.Path(), metavar="FILE",
    help="With --model: an official pretrained checkpoint (PyTorchVideo / PySlowFast .pyth, ...) to load "
         "into it; its class names go into the manifest.")
