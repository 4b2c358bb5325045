"""gridgis: geospatial grid management for city social governance, on PostGIS."""

__version__ = "0.1.0"
