"""Database layer: the `Executor` type, engine, models, the embedded PostGIS cluster, migrations."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

# What every SQL function takes: a session or a plain connection (the caller owns the transaction).
Executor = Session | Connection
