"""`python -m mobilekit.train`: the same command as `mobilekit train` (also under torchrun)."""

from __future__ import annotations

from mobilekit.commands.train import train_cmd
from mobilekit.errors import run_script


def main(argv: list[str] | None = None) -> None:
    run_script(train_cmd, "python -m mobilekit.train", argv)


if __name__ == "__main__":
    main()
