"""Deployment packages: a .zip file extracted safely into a folder per code version.

Lambda's rules (Lambda quotas; CreateFunction / UpdateFunctionCode reference and observed errors):

* a zip uploaded directly may be at most 50 MiB; a larger request is refused with
  ``RequestEntityTooLargeException`` (HTTP 413) ``Request must be smaller than 69905067 bytes for the
  CreateFunction operation`` (69905067 is the base64 size of 50 MiB);
* the unzipped contents may be at most 250 MB: ``InvalidParameterValueException``
  ``Unzipped size must be smaller than 262144000 bytes``;
* a file that is not a zip archive: ``InvalidParameterValueException`` ``Could not unzip uploaded
  file. Please check your file, then try to upload again.``;
* ``CodeSha256`` is the base64 SHA-256 of the zip bytes.

Entries with absolute paths or ``..`` components, and symbolic links that point outside the
package, are refused with the "Could not unzip" text (AWS's behaviour for such archives is not
documented; refusing them is the choice made). File modes are kept, so executables stay executable.
Each package is extracted to ``<code_root>/<sha256 hex>``: an update extracts into a new folder and
running invocations keep the folder they started with.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import shutil
import stat
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from batchbridge.functions.errors import InvalidParameterValueException, RequestEntityTooLargeException

MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_REQUEST_BYTES = 69905067
MAX_UNZIPPED_BYTES = 262144000
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclasses.dataclass(frozen=True)
class FunctionCode:
    """An extracted package: where it lives, its ``CodeSha256`` and ``CodeSize`` as Lambda reports."""

    code_dir: Path
    code_sha256: str
    code_size: int
    unzipped_size: int

    @classmethod
    def from_zip(
        cls, zip_bytes: bytes, code_root: Path, *, operation: str = "CreateFunction"
    ) -> FunctionCode:
        """Validate and extract ``zip_bytes`` under ``code_root``; idempotent for the same bytes."""
        if len(zip_bytes) > MAX_ZIPPED_BYTES:
            raise RequestEntityTooLargeException(
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the {operation} operation"
            )
        digest = hashlib.sha256(zip_bytes)
        try:
            archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        except (zipfile.BadZipFile, ValueError, EOFError):
            raise InvalidParameterValueException(UNZIP_FAILED) from None
        with archive:
            members = archive.infolist()
            declared = sum(info.file_size for info in members)
            if declared > MAX_UNZIPPED_BYTES:
                raise InvalidParameterValueException(
                    f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                )
            for info in members:
                _check_member_name(info.filename)
            code_root.mkdir(parents=True, exist_ok=True)
            final = code_root / digest.hexdigest()
            if not final.is_dir():
                staging = code_root / f".staging-{uuid.uuid4().hex}"
                staging.mkdir()
                try:
                    _extract_all(archive, members, staging)
                    try:
                        os.rename(staging, final)
                    except OSError:
                        if not final.is_dir():
                            raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
        return cls(
            code_dir=final,
            code_sha256=base64.b64encode(digest.digest()).decode(),
            code_size=len(zip_bytes),
            unzipped_size=declared,
        )


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidParameterValueException(UNZIP_FAILED)


def _extract_all(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], target: Path) -> None:
    """Extract member by member, counting real bytes so a lying header cannot exceed the limit."""
    written = 0
    root = target.resolve()
    for info in members:
        relative = PurePosixPath(info.filename.replace("\\", "/"))
        dest = target.joinpath(*relative.parts)
        mode = (info.external_attr >> 16) & 0xFFFF
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(mode):
            link = archive.read(info).decode("utf-8", "replace")
            resolved = (dest.parent / link).resolve()
            if PurePosixPath(link).is_absolute() or not resolved.is_relative_to(root):
                raise InvalidParameterValueException(UNZIP_FAILED)
            os.symlink(link, dest)
            continue
        try:
            with archive.open(info) as source, open(dest, "wb") as sink:
                while chunk := source.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_UNZIPPED_BYTES:
                        raise InvalidParameterValueException(
                            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                        )
                    sink.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError):
            raise InvalidParameterValueException(UNZIP_FAILED) from None
        os.chmod(dest, 0o755 if stat.S_IMODE(mode) & 0o111 else 0o644)
