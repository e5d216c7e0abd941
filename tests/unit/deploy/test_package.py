"""The deployment zip: byte-identical builds, fixed metadata, no bytecode, CodeSha256 as Lambda computes it."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from lambdash.deploy.package import build_zip, handler_source
from lambdash.errors import ConfigError


def entries(data: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


@pytest.fixture
def handler_copy(tmp_path: Path) -> Path:
    """A copy of handler/ with the litter a working tree collects."""
    copy = tmp_path / "handler"
    shutil.copytree(handler_source(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"bytecode")
    (copy / "stray.pyc").write_bytes(b"bytecode")
    (copy / ".DS_Store").write_bytes(b"finder")
    return copy


def test_two_builds_are_byte_identical() -> None:
    assert build_zip().zip_bytes == build_zip().zip_bytes


def test_entries_sit_under_lambdash_handler_sorted_with_fixed_time_and_mode() -> None:
    infos = entries(build_zip().zip_bytes)
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert "lambdash_handler/app.py" in names
    assert "lambdash_handler/__init__.py" in names
    assert "lambdash_handler/contract/__init__.py" in names
    assert all(name.startswith("lambdash_handler/") for name in names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        # The exec wrapper keeps its run bit: Lambda runs AWS_LAMBDA_EXEC_WRAPPER only when it is executable.
        mode = 0o100755 if info.filename == "lambdash_handler/exec-wrapper" else 0o100644
        assert info.external_attr >> 16 == mode, info.filename
        assert info.compress_type == zipfile.ZIP_DEFLATED
    assert "lambdash_handler/exec-wrapper" in names


def test_the_exec_wrapper_is_executable_in_the_zip_whatever_its_mode_on_disk(handler_copy: Path) -> None:
    (handler_copy / "exec-wrapper").chmod(0o644)  # as an install that dropped the run bit leaves it
    info = zipfile.ZipFile(io.BytesIO(build_zip(handler_copy).zip_bytes)).getinfo("lambdash_handler/exec-wrapper")
    assert info.external_attr >> 16 == 0o100755


def test_a_handler_without_its_exec_wrapper_is_refused(handler_copy: Path) -> None:
    (handler_copy / "exec-wrapper").unlink()
    with pytest.raises(ConfigError, match=r"not a complete lambdash handler \(missing exec-wrapper\)"):
        build_zip(handler_copy)


def test_every_handler_file_is_shipped_unchanged() -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_zip().zip_bytes))
    source = handler_source()
    for info in archive.infolist():
        assert archive.read(info) == (source / info.filename.removeprefix("lambdash_handler/")).read_bytes()
    for schema in ("request", "response", "inventory", "probe"):
        assert f"lambdash_handler/contract/{schema}.schema.json" in archive.namelist()


def test_bytecode_and_hidden_files_are_left_out(handler_copy: Path) -> None:
    names = [info.filename for info in entries(build_zip(handler_copy).zip_bytes)]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or "/." in name]
    # The litter changes nothing: the copy zips exactly as the original does.
    assert build_zip(handler_copy).zip_bytes == build_zip().zip_bytes


def test_file_times_do_not_change_the_zip(handler_copy: Path) -> None:
    before = build_zip(handler_copy).zip_bytes
    (handler_copy / "app.py").touch()
    assert build_zip(handler_copy).zip_bytes == before


def test_code_sha256_is_base64_of_the_sha256_of_the_zip() -> None:
    artifact = build_zip()
    assert artifact.sha256 == base64.b64encode(hashlib.sha256(artifact.zip_bytes).digest()).decode()
    assert artifact.sha256_hex == hashlib.sha256(artifact.zip_bytes).hexdigest()


def test_a_changed_file_changes_the_sha(handler_copy: Path) -> None:
    with (handler_copy / "app.py").open("a") as app:
        app.write("# changed\n")
    assert build_zip(handler_copy).sha256 != build_zip().sha256


def test_a_directory_that_is_not_the_handler_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a complete lambdash handler"):
        build_zip(tmp_path)
