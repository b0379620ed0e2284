"""The `mobilekit` command: a click group; each command lives in mobilekit/commands/ and is
a thin wrapper over library calls. Heavy libraries are imported inside commands, and target
names, schemes and descriptions come from the registry (converters.backends, which imports no
torch), so `mobilekit --help` and every command's --help stay instant (tests/test_cli_help.py)."""

from __future__ import annotations

import importlib
import os
import sys

import click

from mobilekit import __version__
from mobilekit.errors import (INTERRUPTED_EXIT, INTERRUPTED_LINE, MobilekitError, error_line,
                              usage_error_line)

# One module per command (or group of related commands); each exposes `commands`.
COMMAND_MODULES = [
    "models",
    "convert",
    "quantize",
    "train",
    "bench",
    "collect",
    "android",
    "check",
    "stream",
]


class MobilekitGroup(click.Group):
    """Prints a MobilekitError, a usage error (bad option value, unknown option or command) and
    an OS error on a path as one `error:` line, exit 2; --debug shows a MobilekitError's and an
    OS error's traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:  # options of `mobilekit` itself, e.g. `mobilekit --bogus`
            if isinstance(e, click.exceptions.NoArgsIsHelpError):
                raise
            click.secho(usage_error_line(e), fg="red", err=True)
            raise click.exceptions.Exit(2) from None

    @staticmethod
    def _debug(ctx: click.Context) -> bool:
        # ctx.obj is filled by cli() itself, inside super().invoke: read it once that has run.
        return bool((ctx.obj or {}).get("debug") or os.environ.get("MOBILEKIT_DEBUG"))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            if isinstance(e, click.exceptions.NoArgsIsHelpError):
                raise
            click.secho(usage_error_line(e), fg="red", err=True)
            ctx.exit(2)
        except MobilekitError as e:
            if self._debug(ctx):
                raise
            click.secho(error_line(e), fg="red", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:  # not click's "Aborted!" and exit 1
            click.secho(INTERRUPTED_LINE, fg="red", err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except OSError as e:
            # A path the user gave that cannot be read or written, found late (commands check
            # their outputs up front where they can): still one line, not a traceback.
            if self._debug(ctx) or e.filename is None:
                raise
            click.secho(error_line(MobilekitError(
                f"{e.strerror or type(e).__name__}: {e.filename}",
                "check the path and its permissions (--debug shows where)")), fg="red", err=True)
            ctx.exit(2)


@click.group(cls=MobilekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="mobilekit")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """mobilekit: video action-recognition models from GPU training to phone latency.

    \b
    Typical path:
      mobilekit models                          the zoo
      python -m mobilekit.train ...             train (GPU or CPU)
      mobilekit convert --model vlf_b0 --target xnnpack
      mobilekit collect                         receive latency from the phone apps
      mobilekit report                          tables and plots
    """
    ctx.ensure_object(dict)["debug"] = debug


for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(f"mobilekit.commands.{_name}").commands:
        cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="mobilekit")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
