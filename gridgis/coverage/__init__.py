"""Coverage runs: who can reach each H3 cell within the target, per area, and where to add posts."""
