"""User-facing errors: each one says what is wrong and how to fix it, in one line.

Library code raises these; the CLI prints `error: <message>` and exits 2 (the full
traceback only with --debug). Anything else escaping is a bug in mobilekit.
"""

from __future__ import annotations


class MobilekitError(Exception):
    """A problem the user can act on. `fix` is the suggestion appended to the message."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class UnknownModelError(MobilekitError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class WeightsError(MobilekitError):
    """A weights file or checkpoint that cannot be read or does not fit the model."""


class ShapeError(MobilekitError, ValueError):
    """An input of the wrong shape for a model or artifact."""


def error_line(error: BaseException) -> str:
    """`error: <message>` on one line, whatever the message holds (a user's exception text
    can span lines)."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"error: {text}"


def usage_error_line(error) -> str:
    """A click usage error (bad value, unknown option, missing argument) as one `error:` line
    that points to the command's --help, instead of click's usage block."""
    ctx = getattr(error, "ctx", None)
    where = ctx.command_path if ctx is not None else "mobilekit"
    message = " ".join(error.format_message().split()).rstrip(".")
    hint = f"see `{where} --help`"
    # "No such command 'conver'. Did you mean 'convert'?" reads on as a sentence
    return error_line(f"{message} {hint.capitalize()}" if message.endswith("?") else f"{message}; {hint}")


# Ctrl+C, for the CLI and the `python -m` scripts alike: one line and the shell's 128 + SIGINT.
# Commands stage what they write and move it into place at the end, so what was whole stays whole.
INTERRUPTED_LINE = "interrupted (Ctrl+C): nothing half-written was put in place"
INTERRUPTED_EXIT = 130


def run_script(command, prog_name: str, argv: list[str] | None = None) -> None:
    """Run a click command as a `python -m` script with the CLI's error contract: a
    MobilekitError or a usage error is one `error:` line and exit 2 (MOBILEKIT_DEBUG=1 shows
    the traceback)."""
    import os
    import sys

    import click

    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except MobilekitError as e:
        if os.environ.get("MOBILEKIT_DEBUG"):
            raise
        click.secho(error_line(e), fg="red", err=True)
        sys.exit(2)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and EOF at a prompt)
        click.secho(INTERRUPTED_LINE, fg="red", err=True)
        sys.exit(INTERRUPTED_EXIT)
    except click.exceptions.NoArgsIsHelpError as e:
        e.show()
        sys.exit(e.exit_code)
    except click.UsageError as e:
        click.secho(usage_error_line(e), fg="red", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
