"""The `mobilekit` command: a click group; each command lives in mobilekit/commands/ and is
a thin wrapper over library calls. Heavy libraries are imported inside commands, so
`mobilekit --help` stays instant."""

from __future__ import annotations

import importlib
import os
import sys

import click

from mobilekit import __version__
from mobilekit.errors import MobilekitError

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
]


class MobilekitGroup(click.Group):
    """Prints a MobilekitError as one `error:` line (exit 2); --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MobilekitError as e:
            if (ctx.obj or {}).get("debug") or os.environ.get("MOBILEKIT_DEBUG"):
                raise
            click.secho(f"error: {e}", fg="red", err=True)
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
