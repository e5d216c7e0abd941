"""A layer's listing, read over HTTP range requests from a server on loopback."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lambdash.deploy.layers import TAIL_BYTES, RangedHttpFile, zip_listing
from lambdash.errors import TransportError


@dataclass
class ServedZip:
    url: str
    size: int
    sent: list[int]


@pytest.fixture
def serve_zip() -> Iterator[Callable[[bytes, bool], ServedZip]]:
    """A loopback HTTP server for one zip, honouring Range requests or not; it counts the bytes it sends."""
    servers: list[ThreadingHTTPServer] = []

    def start(data: bytes, ranges: bool) -> ServedZip:
        sent: list[int] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                wanted = self.headers.get("Range", "")
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted)
                if ranges and match:
                    first, last = match.groups()
                    start_at = len(data) - int(last) if not first else int(first)
                    end_at = len(data) - 1 if not first or not last else int(last)
                    start_at = max(0, start_at)
                    body = data[start_at:end_at + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start_at}-{start_at + len(body) - 1}/{len(data)}")
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                sent.append(len(body))

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return ServedZip(f"http://127.0.0.1:{server.server_address[1]}/layer.zip", len(data), sent)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def big_layer() -> tuple[bytes, list[str]]:
    """A layer of 4000 files, 3 MB stored: its listing alone is bigger than the tail read first."""
    names = [f"python/package_{index:05d}/module_with_a_long_name.py" for index in range(4000)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, name in enumerate(names):
            archive.writestr(name, index.to_bytes(4, "big") * 200)
    return buffer.getvalue(), names


def test_the_listing_is_read_from_the_end_of_the_zip_only(serve_zip: Callable[[bytes, bool], ServedZip]) -> None:
    data, names = big_layer()
    served = serve_zip(data, True)
    assert zip_listing(served.url) == names
    # The tail, then the rest of the central directory: far less than the zip.
    assert len(served.sent) == 2
    assert served.sent[0] == TAIL_BYTES
    assert sum(served.sent) < served.size // 5


def test_a_server_that_ignores_ranges_still_gives_the_listing(
    serve_zip: Callable[[bytes, bool], ServedZip]
) -> None:
    data, names = big_layer()
    served = serve_zip(data, False)
    with RangedHttpFile(served.url) as remote:
        assert remote.size == len(data)
        with zipfile.ZipFile(remote) as archive:
            assert archive.namelist() == names
    assert served.sent == [len(data)]


def test_a_listing_that_cannot_be_read_is_one_line(serve_zip: Callable[[bytes, bool], ServedZip]) -> None:
    served = serve_zip(b"this is not a zip file at all", True)
    with pytest.raises(TransportError, match=r"^not a zip: "):
        zip_listing(served.url)
    with pytest.raises(TransportError, match=r"^no download URL \(Lambda gave 's3://'\)$"):
        zip_listing("s3://")
