"""Maps: self-contained, offline Leaflet maps of coverage runs and dispatch answers."""
