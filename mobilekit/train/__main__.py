"""`python -m mobilekit.train`: the same command as `mobilekit train` (also under torchrun)."""

from __future__ import annotations

import os
import sys

import click

from mobilekit.commands.train import train_cmd
from mobilekit.errors import MobilekitError


def main(argv: list[str] | None = None) -> None:
    try:
        train_cmd.main(args=argv, prog_name="python -m mobilekit.train", standalone_mode=False)
    except MobilekitError as e:
        if os.environ.get("MOBILEKIT_DEBUG"):
            raise
        click.secho(f"error: {e}", fg="red", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
