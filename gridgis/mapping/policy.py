"""What a map page may load (tile origin, Content-Security-Policy): no folium here, so the
console and the map routes can use it without loading the map renderer."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def tile_origin(tiles: str) -> str | None:
    """Where the base layer's images come from, as a CSP source ('self', an origin, or None)."""
    value = tiles.strip()
    if value.lower() in ("", "none"):
        return None
    if value.lower() == "osm":
        value = OSM_URL
    if value.startswith("/"):
        return "'self'"
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}"


def map_content_security_policy(page: str, *, tiles: str) -> str:
    """The Content-Security-Policy of a rendered map: its own inline scripts allowed by hash
    and nothing else (no other script, no event-handler attribute, no eval, no fetches),
    inline styles (Leaflet and the panels use them), images from the page and the tile
    server. The page is our renderer's output; the hashes are computed after rendering."""
    scripts = dict.fromkeys(re.findall(r"<script>(.*?)</script>", page, flags=re.S))
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in scripts
    )
    images = " ".join(filter(None, ("'self' data:", tile_origin(tiles))))
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        f"img-src {images}; font-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
