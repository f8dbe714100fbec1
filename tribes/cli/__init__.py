"""Command-line interface (click). Entry point: :func:`tribes.cli.main.main`."""
