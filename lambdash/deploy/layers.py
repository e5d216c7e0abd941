"""What a Lambda layer brings into ``/opt``, read from its zip's listing.

A twin gets the layers of the function it is like. Two kinds of content change
what lambdash itself does there, so the plan warns about them: an extension
(``/opt/extensions/NAME``), which starts with every sandbox, and a Python package
that shadows the runtime's own (``/opt/python`` comes first on ``sys.path``, so a
layer's boto3 is the one lambdash's handler imports).

Only the zip's central directory is needed, so it is read with HTTP range requests
from the short-lived URL Lambda gives (``GetLayerVersion``'s ``Content.Location``):
a few kilobytes from the end, however big the layer. A server that ignores ranges
sends the whole zip, which is spooled to a temporary file rather than kept in memory.
"""

from __future__ import annotations

import errno
import http.client
import io
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from typing import IO, Any

from lambdash.errors import TransportError

HTTP_TIMEOUT_SECONDS = 30
# The end of a zip holds its end record and comment (at most 64 KiB); its listing is usually there too.
TAIL_BYTES = 128 * 1024
# A layer's zip is at most 50 MB uploaded directly, 250 MB unzipped; anything bigger is not a layer.
MAX_WHOLE_BYTES = 300 * 1024 * 1024
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024
COPY_CHUNK_BYTES = 1024 * 1024

# Packages every Python runtime of Lambda has outside the standard library; lambdash's handler uses boto3.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "awslambdaric")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
# A package at the top of /opt/python, or in its site-packages, e.g. python/boto3/__init__.py.
_PYTHON_PACKAGE = re.compile(r"^(python/(?:lib/python3\.\d+/site-packages/)?)([^/]+)")


class RangedHttpFile(io.RawIOBase):
    """A read-only, seekable file over an HTTP URL: each read outside the cached tail is one Range request."""

    def __init__(self, url: str, *, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self.position = 0
        self.requests = 0
        self._whole: IO[bytes] | None = None
        self.size, self._tail_start, self._tail = self._fetch_tail()

    def _open(self, headers: dict[str, str]) -> Any:
        self.requests += 1
        request = urllib.request.Request(self.url, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as problem:
            raise TransportError(f"HTTP {problem.code} {problem.reason}") from None
        except (urllib.error.URLError, OSError) as problem:
            raise TransportError(str(getattr(problem, "reason", problem))) from None

    def _fetch_tail(self) -> tuple[int, int, bytes]:
        """The zip's size and its last bytes; the whole zip, spooled, when the server ignores the range."""
        with self._open({"Range": f"bytes=-{TAIL_BYTES}"}) as response:
            if response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match:
                    raise TransportError("the server answered a range request without a usable Content-Range")
                start, _, total = (int(group) for group in match.groups())
                return total, start, response.read()
            # Kept open, as the zip is read from it, until close().
            whole: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
            copied = 0
            try:
                while chunk := response.read(COPY_CHUNK_BYTES):
                    copied += len(chunk)
                    if copied > MAX_WHOLE_BYTES:
                        raise TransportError(f"more than {MAX_WHOLE_BYTES // 1024 // 1024} MB "
                                             "and no range requests")
                    whole.write(chunk)
            except BaseException:
                whole.close()
                raise
            self._whole = whole
            return copied, 0, b""

    def _fetch(self, start: int, length: int) -> bytes:
        with self._open({"Range": f"bytes={start}-{start + length - 1}"}) as response:
            data: bytes = response.read()
        if response.status != 206 or len(data) != length:
            raise TransportError(f"asked for {length} bytes at {start}, got {len(data)} (HTTP {response.status})")
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            # As a file does: zipfile takes an OSError here for a file too short to be a zip.
            raise OSError(errno.EINVAL, "negative seek position")
        self.position = base + offset
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        if self._whole is not None:
            self._whole.seek(self.position)
            data = self._whole.read(end - self.position)
        elif self.position >= self._tail_start:
            data = self._tail[self.position - self._tail_start:end - self._tail_start]
        else:
            data = self._fetch(self.position, end - self.position)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._whole is not None:
            self._whole.close()
        super().close()


def zip_listing(url: str) -> list[str]:
    """The names in the zip at ``url`` (an http or https URL), read from its central directory."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise TransportError(f"no download URL (Lambda gave {url!r})")
    try:
        with RangedHttpFile(url) as remote, zipfile.ZipFile(remote) as archive:
            return archive.namelist()
    except zipfile.BadZipFile as problem:
        raise TransportError(f"not a zip: {problem}") from None
    except (OSError, http.client.HTTPException) as problem:
        raise TransportError(f"could not read it: {problem}") from None


def layer_findings(names: Iterable[str]) -> list[str]:
    """What in a layer's listing changes lambdash in the twin, one sentence each."""
    extensions: list[str] = []
    shadowing: dict[str, str] = {}
    for name in names:
        if name.startswith("extensions/") and name.count("/") == 1 and name != "extensions/":
            extensions.append(name.split("/", 1)[1])
        match = _PYTHON_PACKAGE.match(name)
        if match:
            package = match.group(2).removesuffix(".py")
            if package in RUNTIME_PACKAGES:
                shadowing.setdefault(package, f"/opt/{match.group(1)}{match.group(2)}")
    findings = []
    if extensions:
        shown = ", ".join(f"/opt/extensions/{name}" for name in sorted(extensions))
        findings.append(f"brings an extension ({shown}): it starts in the twin's sandboxes too, "
                        "and may need the function's environment (--with-env)")
    for package, location in sorted(shadowing.items()):
        user = "lambdash's handler" if package == "boto3" else "boto3 in lambdash's handler"
        findings.append(f"brings {package} ({location}), which shadows the runtime's own: {user} imports this one")
    return findings
