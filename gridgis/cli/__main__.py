"""`python -m gridgis.cli`: the same command as the `gridgis` entry point."""

from gridgis.cli import app

app()
