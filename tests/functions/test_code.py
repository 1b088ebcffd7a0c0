"""Deployment packages: extraction, hashes, AWS's limits and unsafe archives."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from batchbridge.functions import FunctionCode, InvalidParameterValueException, RequestEntityTooLargeException
from batchbridge.functions.code import MAX_UNZIPPED_BYTES, UNZIP_FAILED

from .conftest import make_zip


def test_extracts_into_a_folder_per_package(tmp_path: Path) -> None:
    data = make_zip({"app.py": "X = 1\n", "lib/util.py": "Y = 2\n"})
    code = FunctionCode.from_zip(data, tmp_path)
    assert (code.code_dir / "app.py").read_text() == "X = 1\n"
    assert (code.code_dir / "lib" / "util.py").read_text() == "Y = 2\n"
    assert code.code_sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert code.code_size == len(data)
    assert code.unzipped_size == 12
    assert FunctionCode.from_zip(data, tmp_path) == code
    updated = FunctionCode.from_zip(make_zip({"app.py": "X = 2\n"}), tmp_path)
    assert updated.code_dir != code.code_dir
    assert (code.code_dir / "app.py").read_text() == "X = 1\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_keeps_executable_bits(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bin/tool")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(info, "#!/bin/sh\necho hi\n")
        archive.writestr("data.txt", "plain")
    code = FunctionCode.from_zip(buffer.getvalue(), tmp_path)
    assert os.access(code.code_dir / "bin" / "tool", os.X_OK)
    assert not os.access(code.code_dir / "data.txt", os.X_OK)


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "..\\evil.py"])
def test_refuses_paths_outside_the_package(tmp_path: Path, name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(InvalidParameterValueException) as caught:
        FunctionCode.from_zip(buffer.getvalue(), tmp_path / "code")
    assert caught.value.message == UNZIP_FAILED
    assert caught.value.code == "InvalidParameterValueException" and caught.value.status == 400
    assert not (tmp_path / "evil.py").exists()


def test_refuses_symlinks_that_escape(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "../../outside")
    with pytest.raises(InvalidParameterValueException):
        FunctionCode.from_zip(buffer.getvalue(), tmp_path)


def test_keeps_symlinks_inside_the_package(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("real.py", "V = 3\n")
        info = zipfile.ZipInfo("alias.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "real.py")
    code = FunctionCode.from_zip(buffer.getvalue(), tmp_path)
    assert (code.code_dir / "alias.py").is_symlink()
    assert (code.code_dir / "alias.py").read_text() == "V = 3\n"


def test_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        FunctionCode.from_zip(b"this is not a zip file", tmp_path)
    assert (
        caught.value.message
        == "Could not unzip uploaded file. Please check your file, then try to upload again."
    )


def test_zipped_size_limit(tmp_path: Path) -> None:
    with pytest.raises(RequestEntityTooLargeException) as caught:
        FunctionCode.from_zip(b"\0" * (50 * 1024 * 1024 + 1), tmp_path, operation="UpdateFunctionCode")
    assert caught.value.status == 413
    assert (
        caught.value.message
        == "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation"
    )


def test_unzipped_size_limit(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("big.bin", "w") as sink,
    ):
        for _ in range(MAX_UNZIPPED_BYTES // len(chunk) + 1):
            sink.write(chunk)
    with pytest.raises(InvalidParameterValueException) as caught:
        FunctionCode.from_zip(buffer.getvalue(), tmp_path)
    assert caught.value.message == "Unzipped size must be smaller than 262144000 bytes"
    assert list(tmp_path.iterdir()) == []
