"""Road networks from OpenStreetMap: read, build a routable graph, store it in generations."""
