"""A function's own code in its twin (``deploy --like FUNCTION --with-code``): fetched, checked, and zipped in.

GetFunction gives FUNCTION's code package as a short-lived URL. It is fetched,
checked against FUNCTION's CodeSha256, and joined to lambdash's handler zip: the
function's files stay at the root of the zip, as in its own function, and lambdash's
sit in their own package, ``lambdash_handler``, so the REPL's ``:py`` imports the
function's modules as the function does. A package that has a ``lambdash_handler``
of its own is refused, and so is a container image, which has no package to copy.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdash.deploy.package import CodeArtifact, code_sha256
from lambdash.errors import ConfigError, TransportError
from lambdash_handler.contract import PACKAGE_NAME

HTTP_TIMEOUT_SECONDS = 60
# Lambda takes a zip of at most 50 MB in CreateFunction and UpdateFunctionCode.
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024

CANNOT_FETCH = "the function's code could not be fetched"
# Fetches the bytes at a URL (the code package's); tests pass their own.
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class FunctionCode:
    """A function's code package, and what the twin records of it."""

    function: str
    handler: str | None
    code_sha256: str
    zip_bytes: bytes


def download(url: str) -> bytes:
    """The bytes at ``url`` (the presigned URL GetFunction gives), at most a zip Lambda could hold."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TransportError(f"no download URL for the function's code (Lambda gave {url!r})")
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_DIRECT_UPLOAD_BYTES + 1)
    except urllib.error.HTTPError as problem:
        raise TransportError(f"{CANNOT_FETCH}: HTTP {problem.code} {problem.reason}") from None
    except (urllib.error.URLError, OSError) as problem:
        raise TransportError(f"{CANNOT_FETCH}: {getattr(problem, 'reason', problem)}") from None
    return data


def fetch_function_code(configuration: Mapping[str, Any], location: str, fetch: Fetch = download) -> FunctionCode:
    """A function's code package (from ``location``, GetFunction's Code.Location), checked against its CodeSha256."""
    name = str(configuration.get("FunctionName", "the function"))
    if configuration.get("PackageType") == "Image":
        raise ConfigError(f"{name} is a container image: it has no code package to copy (--with-code copies a zip "
                          "function's code; leave --with-code out for an image)")
    if not location:
        raise ConfigError(f"Lambda gave no location for the code of {name} (lambda:GetFunction)")
    data = fetch(location)
    if len(data) > MAX_DIRECT_UPLOAD_BYTES:
        raise ConfigError(f"the code of {name} is over {MAX_DIRECT_UPLOAD_BYTES // (1024 * 1024)} MB: with "
                          "lambdash's handler it would not fit the zip deploy uploads")
    expected = str(configuration.get("CodeSha256", ""))
    if code_sha256(data) != expected:
        raise TransportError(f"the code fetched for {name} is damaged: its sha256 is not {name}'s CodeSha256 "
                             f"{expected}; try again")
    handler = configuration.get("Handler")
    return FunctionCode(function=name, handler=str(handler) if handler else None, code_sha256=expected, zip_bytes=data)


def join_code(handler: CodeArtifact, code: FunctionCode) -> CodeArtifact:
    """lambdash's handler zip with the function's files at its root; ConfigError when their names clash."""
    buffer = io.BytesIO()
    try:
        theirs = zipfile.ZipFile(io.BytesIO(code.zip_bytes))
    except zipfile.BadZipFile:
        raise ConfigError(f"the code package of {code.function} is not a zip") from None
    with theirs, zipfile.ZipFile(io.BytesIO(handler.zip_bytes)) as ours, zipfile.ZipFile(buffer, "w") as joined:
        for entry in ours.infolist():
            joined.writestr(entry, ours.read(entry), compresslevel=9)
        for entry in sorted(theirs.infolist(), key=lambda item: item.filename):
            top = entry.filename.split("/", 1)[0]
            if top == PACKAGE_NAME:
                raise ConfigError(f"the code of {code.function} has a {PACKAGE_NAME}/ of its own, which is lambdash's "
                                  "handler's name in the zip; --with-code cannot put both in the twin")
            joined.writestr(entry, theirs.read(entry), compresslevel=9)
    data = buffer.getvalue()
    if len(data) > MAX_DIRECT_UPLOAD_BYTES:
        raise ConfigError(f"the code of {code.function} with lambdash's handler is over "
                          f"{MAX_DIRECT_UPLOAD_BYTES // (1024 * 1024)} MB, more than deploy can upload")
    return CodeArtifact(zip_bytes=data, sha256=code_sha256(data))
