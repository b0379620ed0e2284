"""`python -m mobilekit`: the `mobilekit` command, for environments without the console script."""

from mobilekit.cli import main

if __name__ == "__main__":
    main()
