"""``python -m dicodec`` runs the command-line interface."""

from dicodec.cli.main import cli

if __name__ == "__main__":
    cli()
