"""A function's code joined to lambdash's handler for its twin (--with-code). No AWS, no network."""

from __future__ import annotations

import io
import zipfile

import pytest

from lambdash.deploy.function_code import FunctionCode, fetch_function_code, join_code
from lambdash.deploy.package import build_zip, code_sha256
from lambdash.errors import ConfigError, TransportError


def a_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_functions_files_stay_at_the_root_beside_the_handler_package() -> None:
    theirs = a_zip({"app.py": b"def handler(e, c): pass\n", "vendor/lib.py": b"X = 1\n"})
    joined = join_code(build_zip(), FunctionCode("orders", "app.handler", code_sha256(theirs), theirs))
    with zipfile.ZipFile(io.BytesIO(joined.zip_bytes)) as archive:
        names = archive.namelist()
        assert archive.read("vendor/lib.py") == b"X = 1\n"
    assert {"app.py", "vendor/lib.py", "lambdash_handler/app.py", "lambdash_handler/exec-wrapper"} <= set(names)
    assert joined.sha256 == code_sha256(joined.zip_bytes)
    # The same inputs give the same zip, so a second deploy changes nothing.
    assert join_code(build_zip(), FunctionCode("orders", None, "", theirs)).sha256 == joined.sha256


def test_a_package_named_like_lambdashs_is_refused() -> None:
    theirs = a_zip({"lambdash_handler/app.py": b""})
    with pytest.raises(ConfigError, match="has a lambdash_handler/ of its own"):
        join_code(build_zip(), FunctionCode("orders", None, code_sha256(theirs), theirs))


def test_the_fetched_code_must_be_the_functions_own() -> None:
    theirs = a_zip({"app.py": b""})
    configuration = {"FunctionName": "orders", "CodeSha256": code_sha256(theirs), "Handler": "app.handler"}
    fetched = fetch_function_code(configuration, "https://code.invalid/orders.zip", lambda url: theirs)
    assert (fetched.handler, fetched.code_sha256) == ("app.handler", code_sha256(theirs))
    with pytest.raises(TransportError, match="the code fetched for orders is damaged"):
        fetch_function_code(configuration, "https://code.invalid/orders.zip", lambda url: theirs + b"x")
    with pytest.raises(ConfigError, match="orders is a container image"):
        fetch_function_code({**configuration, "PackageType": "Image"}, "", lambda url: b"")
