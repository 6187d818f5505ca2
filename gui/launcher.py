"""The `limelight` command: subcommands and `--self-test` run headless, anything else opens the window."""
import sys

from limelight.core.cli import SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        from limelight.core.cli import main as cli_main

        return cli_main(argv)
    from limelight.gui.app import main as app_main

    return app_main(argv)


if __name__ == "__main__":
    sys.exit(main())
