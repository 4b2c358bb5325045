"""Offline assets: pinned npm packages fetched at setup time, inlined into every map and served
for the API documentation page."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridgis.errors import Unavailable

Progress = Callable[[str, int, int], None]

VENDOR_DIR = Path(__file__).with_name("static") / "vendor"
MANIFEST = "manifest.json"


class MapAssetsMissing(Unavailable):
    """The Leaflet files maps inline are not installed (run `gridgis map assets`)."""

    code = "map_assets_missing"


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package and the files gridgis takes from it."""

    name: str
    version: str
    # npm's own integrity string (sha512 of the tarball), checked again after `npm pack`.
    integrity: str
    licence: str
    licence_file: str
    files: tuple[str, ...]


# Upstream distributions, each with its licence file. Nothing of them is committed: setup runs
# `gridgis map assets`, which fetches exactly these tarballs from the npm registry.
PACKAGES: tuple[NpmPackage, ...] = (
    NpmPackage(
        name="leaflet",
        version="1.9.4",
        integrity="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        licence="BSD-2-Clause",
        licence_file="LICENSE",
        files=(
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
            "dist/images/marker-icon.png",
            "dist/images/marker-icon-2x.png",
            "dist/images/marker-shadow.png",
        ),
    ),
    NpmPackage(
        name="leaflet.markercluster",
        version="1.5.3",
        integrity="sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA==",
        licence="MIT",
        licence_file="MIT-LICENCE.txt",
        files=(
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
        ),
    ),
    NpmPackage(
        name="leaflet.heat",
        version="0.2.0",
        integrity="sha512-Cd5PbAA/rX3X3XKxfDoUGi9qp78FyhWYurFg3nsfhntcM/MCNK08pRkf4iEenO1KNqwVPKCmkyktjW3UD+h9bQ==",
        licence="BSD-2-Clause",
        licence_file="LICENSE",
        files=("dist/leaflet-heat.js",),
    ),
    # The API's /docs page (Swagger UI), served from these files: city intranets have no CDN.
    NpmPackage(
        name="swagger-ui-dist",
        version="5.18.2",
        integrity="sha512-J+y4mCw/zXh1FOj5wGJvnAajq6XgHOyywsa9yITmwxIlJbMqITq3gYRZHaeqLVH/eV/HOPphE6NjF+nbSNC5Zw==",
        licence="Apache-2.0",
        licence_file="LICENSE",
        files=("swagger-ui-bundle.js", "swagger-ui.css"),
    ),
)

# folium's resource names -> (package, file). Every script or stylesheet a map needs must be
# here; `inline_assets` refuses to render a map that asks for anything else.
FOLIUM_JS: dict[str, tuple[str, str]] = {
    "leaflet": ("leaflet", "dist/leaflet.js"),
    "markerclusterjs": ("leaflet.markercluster", "dist/leaflet.markercluster.js"),
    "leaflet-heat.js": ("leaflet.heat", "dist/leaflet-heat.js"),
}
FOLIUM_CSS: dict[str, tuple[str, str]] = {
    "leaflet_css": ("leaflet", "dist/leaflet.css"),
    "markerclustercss": ("leaflet.markercluster", "dist/MarkerCluster.css"),
    "markerclusterdefaultcss": ("leaflet.markercluster", "dist/MarkerCluster.Default.css"),
}
# folium's Map always lists these (Bootstrap popups, Font Awesome marker icons). gridgis maps
# draw circle markers and plain Leaflet popups only, so they are dropped rather than shipped.
FOLIUM_UNUSED = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)


def _package_dir(package: NpmPackage, root: Path) -> Path:
    return root / package.name


def _sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def assets_installed(root: Path = VENDOR_DIR) -> bool:
    """True when every pinned package is unpacked at its pinned version."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    for package in PACKAGES:
        if manifest.get(package.name, {}).get("integrity") != package.integrity:
            return False
        for name in (*package.files, package.licence_file):
            if not (_package_dir(package, root) / name).is_file():
                return False
    return True


def install_assets(
    root: Path = VENDOR_DIR, *, force: bool = False, progress: Progress | None = None
) -> list[NpmPackage]:
    """Fetch the pinned packages with `npm pack` and unpack the needed files under `root`.

    Idempotent: nothing is fetched when the manifest already names the pinned tarballs.
    Returns the packages (re)installed."""
    step = progress or (lambda stage, done, total: None)
    if not force and assets_installed(root):
        step("map assets", len(PACKAGES), len(PACKAGES))
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise MapAssetsMissing(
            "npm is needed once to fetch the Leaflet packages for offline maps; install Node.js "
            "(Debian: apt-get install npm) and run `gridgis map assets`."
        )
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="gridgis-npm-") as tmp:
        for done, package in enumerate(PACKAGES):
            step("map assets", done, len(PACKAGES))
            spec = f"{package.name}@{package.version}"
            result = subprocess.run(
                [npm, "pack", spec, "--json", "--silent", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if result.returncode != 0:
                raise MapAssetsMissing(f"`npm pack {spec}` failed: {result.stderr.strip()[-400:]}")
            filename = json.loads(result.stdout)[0]["filename"]
            tarball = Path(tmp) / filename
            actual = _sri_sha512(tarball.read_bytes())
            if actual != package.integrity:
                raise MapAssetsMissing(
                    f"{spec}: tarball integrity {actual} differs from the pinned one."
                )
            target = _package_dir(package, root)
            shutil.rmtree(target, ignore_errors=True)
            wanted = {f"package/{name}" for name in (*package.files, package.licence_file)}
            with tarfile.open(tarball, "r:gz") as archive:
                members = [m for m in archive.getmembers() if m.name in wanted and m.isfile()]
                missing = wanted - {m.name for m in members}
                if missing:
                    raise MapAssetsMissing(f"{spec} lacks {', '.join(sorted(missing))}.")
                for member in members:
                    source = archive.extractfile(member)
                    assert source is not None
                    path = target / member.name.removeprefix("package/")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(source.read())
            manifest[package.name] = {
                "version": package.version,
                "integrity": package.integrity,
                "licence": package.licence,
            }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _asset_text.cache_clear()
    step("map assets", len(PACKAGES), len(PACKAGES))
    return list(PACKAGES)


_CSS_URL = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")


def _inline_css_images(css: str, base: Path) -> str:
    """Replace relative image URLs by data: URIs: an inlined stylesheet has no folder."""

    def data_uri(match: re.Match[str]) -> str:
        payload = base64.b64encode((base / match.group(2)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{payload})"

    return _CSS_URL.sub(data_uri, css)


@functools.cache
def _asset_text(package_name: str, name: str, root: Path = VENDOR_DIR) -> str:
    path = root / package_name / name
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapAssetsMissing(
            "The offline map assets are not installed: run `gridgis map assets` "
            "(scripts/setup.sh does it)."
        ) from exc
    if name.endswith(".css"):
        content = _inline_css_images(content, path.parent)
    # A literal "</script>" or "</style>" inside the asset would end the inline element early.
    return content.replace("</script", "<\\/script").replace("</style", "<\\/style")


def asset_text(resource: str, kind: str) -> str:
    """The content of one folium resource ('js' or 'css'), ready to inline."""
    table = FOLIUM_JS if kind == "js" else FOLIUM_CSS
    package_name, name = table[resource]
    return _asset_text(package_name, name)


def licences() -> dict[str, str]:
    """Package -> licence of what every map inlines (stated in the map's HTML comment)."""
    return {f"{p.name}@{p.version}": p.licence for p in PACKAGES}


def licence_notice(root: Path = VENDOR_DIR) -> str:
    """The licence texts of the inlined packages: their notices travel with every map."""
    parts = []
    for package in PACKAGES:
        path = _package_dir(package, root) / package.licence_file
        try:
            body = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MapAssetsMissing(
                "The offline map assets are not installed: run `gridgis map assets`."
            ) from exc
        parts.append(f"{package.name}@{package.version} ({package.licence})\n{body.strip()}")
    # "--" may not appear inside an HTML comment.
    return "\n\n".join(parts).replace("--", "- -")
