"""Database layer: engine, models, spatial queries, the embedded PostGIS cluster, migrations."""
