"""A site served on this machine: its files over HTTP with range requests (a browser reads PMTiles archives
by ranges, and ``file://`` gives none), each archive's tiles also at ``{z}/{x}/{y}.png`` (for QGIS's XYZ
layers, which read no PMTiles), and a QGIS connections file that names this server's own address.

Only this machine can reach it (127.0.0.1), and it serves only the site's folder, read-only.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from geotrans.errors import InputError
from geotrans.web.site import MARKER, QGIS_CONNECTIONS, qgis_connections

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ARCHIVE_TILE = re.compile(r"^/(?P<layer>.+)/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)\.png$")
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def check_site(folder: str | os.PathLike) -> dict:
    """The site's data (``MARKER``), or one line when ``folder`` holds no site geotrans wrote."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        raise InputError(f"{folder}: is not a site geotrans wrote (no {MARKER})",
                         hint="write one first: geotrans web MAP --out SITE")
    return json.loads(marker.read_text())


class SiteServer(ThreadingHTTPServer):
    """An HTTP server of one site: its folder's files (``SiteHandler``) and its data (``MARKER``)."""

    def __init__(self, folder: str | os.PathLike, site: dict, port: int):
        self.site = site
        super().__init__((HOST, port), partial(SiteHandler, directory=os.fspath(folder)))


class SiteHandler(SimpleHTTPRequestHandler):
    """GET and HEAD of the site's files, whole or one byte range; an archive's tile by its XYZ address."""

    server: SiteServer

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    def send_head(self):
        path = unquote(urlsplit(self.path).path)
        if path == "/" + QGIS_CONNECTIONS:
            host, port = self.server.server_address[:2]
            return self._send_bytes(qgis_connections(self.server.site["maps"], f"http://{host}:{port}").encode(),
                                    "application/xml")
        tile = ARCHIVE_TILE.match(path)
        if tile and os.path.isfile(self.translate_path(f"/{tile['layer']}.pmtiles")):
            return self._send_archive_tile(tile)
        wanted = self.headers.get("Range")
        local = self.translate_path(self.path)
        if wanted is None or not os.path.isfile(local):
            return super().send_head()
        return self._send_range(local, wanted)

    def _send_bytes(self, data: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)

    def _send_archive_tile(self, tile: re.Match):
        from pmtiles.reader import MmapSource, Reader

        with open(self.translate_path(f"/{tile['layer']}.pmtiles"), "rb") as f:
            data = Reader(MmapSource(f)).get(int(tile["z"]), int(tile["x"]), int(tile["y"]))
        if data is None:  # outside the data: empty, as a viewer shows a missing tile
            self.send_error(HTTPStatus.NOT_FOUND, "no tile there")
            return None
        return self._send_bytes(bytes(data), "image/png")

    def _send_range(self, local: str, wanted: str):
        size = os.path.getsize(local)
        match = RANGE.match(wanted.strip())
        if match is None or match.groups() == ("", ""):
            start, end = 0, size - 1  # a form we do not answer (several ranges): the whole file
            status = HTTPStatus.OK
        else:
            first, last = match.groups()
            if first == "":  # the last N bytes
                start, end = max(0, size - int(last)), size - 1
            else:
                start, end = int(first), min(size - 1, int(last)) if last else size - 1
            status = HTTPStatus.PARTIAL_CONTENT
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = open(local, "rb")
        f.seek(start)
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(local))
        self.send_header("Content-Length", str(end - start + 1))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        return _Limited(f, end - start + 1)


class _Limited:
    """A file read no further than ``length`` bytes from where it stands (what ``copyfile`` sends)."""

    def __init__(self, f, length: int):
        self.f, self.left = f, length

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


def site_server(folder: str | os.PathLike, port: int = DEFAULT_PORT) -> SiteServer:
    """A server of the site in ``folder`` on 127.0.0.1:``port`` (0: any free port), not yet serving; one line
    for a folder that holds no site or a port that is taken."""
    site = check_site(folder)
    try:
        return SiteServer(folder, site, port)
    except OSError as err:
        raise InputError(f"port {port}: cannot serve there ({err.strerror})", hint="give another {port}",
                         options=["port"]) from None


def address(server: SiteServer, path: Optional[str] = None) -> str:
    """The server's address (of ``path`` in the site, where given)."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/" + (path or "")


def xyz_templates(server: SiteServer) -> list[tuple[str, str]]:
    """(layer name, URL template) of each layer the server gives as XYZ tiles, as QGIS's XYZ connection takes
    it: ``{z}/{x}/{y}.png`` under the server's address."""
    site = server.site
    return [(f"{entry['name']}: {kind}", address(server, f"{entry['folder']}/{kind}/{{z}}/{{x}}/{{y}}.png"))
            for entry in site["maps"] for kind in ("map", "scene") if kind in entry["tiles"]]
