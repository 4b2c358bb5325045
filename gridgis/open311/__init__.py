"""Open311 GeoReport v2: incident categories as services, citizen reports as service requests."""
