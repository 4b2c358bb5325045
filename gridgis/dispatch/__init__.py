"""Dispatch capability: ETA model, nearest responders, live positions, incidents."""
