"""The gridgis HTTP API (FastAPI)."""
