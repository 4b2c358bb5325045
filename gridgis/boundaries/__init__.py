"""Boundaries capability: point-to-grid lookup, area listing and export."""
