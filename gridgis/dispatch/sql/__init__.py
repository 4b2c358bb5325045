"""Dispatch SQL, one module per topic (bound parameters only)."""
