"""Options, option types and checks the commands share, so that bad input is refused while the
command line is parsed, in one line (cli.MobilekitGroup prints click's usage errors and
MobilekitErrors as `error: ...`), before any work: counts with their minimum, --classes,
--input-shape, target names, output paths that cannot be written; and the model-source
options (`model_source_options`) that convert, check and quantize declare once, here.

No torch here (`mobilekit --help` stays instant): target names come from the registry
(converters.backends, which imports no torch); the shape and classes types import
converters.source, where the rules live for library callers too, only when the option is given.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
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


class TargetName(click.Choice):
    """A target of the registry (converters.backends), or `all` where the command takes it.
    `choices` are the ones --help lists for the command; any registry name passes, so that the
    library refuses one the command cannot take with its own reason (`check --target et-coreml`:
    no compatibility check, check ane; `quantize -t ptl`: no schemes), and a typo is the
    registry's one line with a did-you-mean."""

    def __init__(self, names: list[str], *, all_: bool = True):
        super().__init__([*names, "all"] if all_ else list(names))

    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        from converters.backends import get_target

        return get_target(value).name  # raises MobilekitError for a name that is no target


def target_help(names: list[str], *, all_: bool = True) -> str:
    """`ane, coreml-gpu, coreml-cpu (coreml); xnnpack, ... (executorch); ...; or all`: the
    command's targets grouped by backend, from the registry."""
    from converters.backends import TARGETS

    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(TARGETS[name].backend, []).append(name)
    text = "; ".join(", ".join(group) + (f" ({family})" if group != [family] else "")
                     for family, group in families.items())
    return text + ("; or all" if all_ else "")


def split_names(values) -> list[str]:
    """--float-layers a,b --float-layers c -> [a, b, c]."""
    return [n.strip() for v in values or () for n in v.split(",") if n.strip()]


@dataclass(frozen=True)
class ModelSource:
    """What the model-source options said: a zoo name, a checkpoint or a user module, and the
    overrides of its defaults."""

    model: str | None = None
    checkpoint: str | None = None
    module: str | None = None
    input_shape: list[int] | None = None
    frames: int | None = None
    size: int | None = None
    classes: int | dict[str, int] | None = None
    checkpoint_weights: str | None = None

    @property
    def label(self) -> str | None:
        """How the model is named on the terminal before it is built."""
        return self.model or self.checkpoint or self.module

    def library_kwargs(self) -> dict:
        """The keywords converters' entry points (resolve_model, check, quantize) take for it."""
        return dict(checkpoint=self.checkpoint, module=self.module, input_shape=self.input_shape,
                    num_classes=self.classes, num_frames=self.frames, image_size=self.size)

    def resolve(self):
        """The model, built (converters.source.SourceModel): bad input fails here, before any work."""
        from converters.source import resolve_model

        return resolve_model(self.model, **self.library_kwargs(), checkpoint_weights=self.checkpoint_weights)


def model_source_options(model_help: str = "A zoo model (`mobilekit models`)."):
    """The model-source options of convert, check and quantize, declared once:
    --model / --checkpoint / --module / --input-shape / --frames / --size / --classes /
    --checkpoint-weights. The command receives them as one `source` (ModelSource)."""
    options = [
        click.option("--model", "model_name", metavar="NAME", help=model_help),
        click.option("--checkpoint", type=click.Path(),
                     help="A mobilekit.train checkpoint; carries model, config and classes."),
        click.option("--module", "module_spec", metavar="FILE.py:CLASS",
                     help="Any nn.Module class, built without arguments (needs --input-shape)."),
        click.option("--input-shape", type=InputShape(), help="Input shape for --module, e.g. 1,8,3,112,112."),
        click.option("--frames", type=POSITIVE, help="Frames per clip T (zoo default otherwise)."),
        click.option("--size", type=POSITIVE, help="Frame height = width S (zoo default otherwise)."),
        click.option("--classes", type=Classes(),
                     help="Number of classes, or named heads like verb=97,noun=300 (zoo default otherwise)."),
        # An official release (PyTorchVideo, PySlowFast, ...) loaded into a zoo model by
        # create_model(name, checkpoint=FILE).
        click.option("--checkpoint-weights", "checkpoint_weights", type=click.Path(), metavar="FILE",
                     help="With --model: an official pretrained checkpoint (PyTorchVideo / PySlowFast .pyth, "
                          "...) to load into it; its class names go into the manifest."),
    ]

    def decorate(command):
        @functools.wraps(command)
        def with_source(*args, model_name, checkpoint, module_spec, input_shape, frames, size, classes,
                        checkpoint_weights, **kwargs):
            if input_shape and not module_spec:
                raise MobilekitError("--input-shape goes with --module", "use --frames/--size for zoo models")
            source = ModelSource(model_name, checkpoint, module_spec, input_shape, frames, size, classes,
                                 checkpoint_weights)
            return command(*args, source=source, **kwargs)

        for option in reversed(options):  # --help lists them in the order above
            with_source = option(with_source)
        return with_source

    return decorate


def check_set_options():
    """--check-data / --check-samples / --no-check-set of convert and quantize, declared once;
    the command receives them as `check_set_kwargs` (the library's keyword arguments)."""
    options = [
        click.option("--check-data", metavar="DATA",
                     help="Clips for the artifact's check set (checkset/, the eager outputs devices compare "
                          "with): a dataset folder or FORMAT:PATH as --calibration. [default: the synthetic "
                          "dataset, never noise]"),
        click.option("--check-samples", type=POSITIVE, default=4, show_default=True,
                     help="Clips in the check set."),
        click.option("--no-check-set", is_flag=True, help="Write no check set."),
    ]

    def decorate(command):
        @functools.wraps(command)
        def with_check_set(*args, check_data, check_samples, no_check_set, **kwargs):
            return command(*args, check_set_kwargs=dict(check_data=check_data, check_samples=check_samples,
                                                         check_set=not no_check_set), **kwargs)

        for option in reversed(options):
            with_check_set = option(with_check_set)
        return with_check_set

    return decorate
