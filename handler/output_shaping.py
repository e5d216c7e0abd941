"""Shape a command's spooled output for the response: inline, compressed, spilled to S3, or cut.

Lambda answers a synchronous invoke with at most 6 MB. Output that fits comes
back inline as base64 (zlib-compressed when that is smaller). A stream that does
not fit goes to the spill bucket by a streaming multipart upload straight from
its spool file. With no bucket, it is cut at the limit and the response says how
many bytes were lost. Memory stays bounded by the inline budget either way.

All of this must be done before Lambda's deadline, or the answer is lost whole
("Task timed out"). So it works to a ``deadline``: it compresses only when there
is time for it, and a spill that would not finish in time is stopped (its
multipart upload aborted) and the stream is cut instead, with the reason.

The client fetches a spill through presigned URLs, so they must work the moment
they are made, from anywhere: they name the bucket's own region
(``BUCKET.s3.REGION.amazonaws.com``, learned once per bucket), never S3's global
endpoint, which answers a bucket outside us-east-1 with redirects for its first
hours and never in the regions opened since March 2019.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import (
    COMPRESS_MIN_BYTES,
    PRESIGN_EXPIRY_SECONDS,
    S3_CONNECT_TIMEOUT_SECONDS,
    S3_READ_TIMEOUT_SECONDS,
    SPILL_PART_BYTES,
)

_READ_CHUNK = 1024 * 1024
# zlib level 6 on output worth compressing runs at least this fast; slower machines are caught by the clock.
COMPRESS_BYTES_PER_SECOND = 30 * 1024 * 1024
# What a spill needs beyond its parts: completing or aborting the upload, presigning, answering.
SPILL_FINISH_SECONDS = 1.0
# Makes an S3 client for a bucket (its URLs name the bucket's region) whose calls give up after so many seconds.
S3Factory = Callable[[str, float], Any]
# What GetBucketLocation answers for the two regions that predate its region names.
_LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}
# The region of each spill bucket this sandbox has learned (a bucket never moves).
_BUCKET_REGIONS: dict[str, str] = {}


class OutOfTime(Exception):
    """The deadline would pass before this step could finish."""


@dataclass
class SpillTarget:
    """Where a stream that does not fit goes: S3 (a client made on first use), a bucket and a key prefix."""

    factory: S3Factory
    bucket: str
    prefix: str
    _clients: dict[float, Any] = field(default_factory=dict, repr=False)

    def client(self, deadline: float | None = None) -> Any:
        """An S3 client whose calls give up in time for ``deadline`` (made once per timeout)."""
        timeout = S3_READ_TIMEOUT_SECONDS
        if deadline is not None:
            timeout = max(1.0, min(timeout, round(deadline - time.monotonic() - SPILL_FINISH_SECONDS)))
        if timeout not in self._clients:
            self._clients[timeout] = self.factory(self.bucket, timeout)
        return self._clients[timeout]


def spill_client(bucket: str, read_timeout: float) -> Any:
    """An S3 client for the spill bucket, in the bucket's own region: the handler's default ``S3Factory``.

    An endpoint of its own (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``: the local
    Lambda's embedded S3, moto, LocalStack) is used as it is, path style, with no
    region to learn.
    """
    if configured_endpoint(os.environ):
        return regional_s3_client(None, bucket, read_timeout, addressing_style="path")
    region = _BUCKET_REGIONS.get(bucket)
    if region is None:
        asked = regional_s3_client(None, bucket, read_timeout)
        region = bucket_region(asked, bucket)
        if region is None:  # S3 would not say: the bucket is taken to be in the function's region
            return asked
        _BUCKET_REGIONS[bucket] = region
    return regional_s3_client(region, bucket, read_timeout)


def configured_endpoint(environ: Mapping[str, str]) -> str | None:
    """The S3 endpoint the environment names instead of AWS's, as botocore reads it."""
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def regional_s3_client(region: str | None, bucket: str, read_timeout: float, *,
                       addressing_style: str | None = None) -> Any:
    """An S3 client whose requests and presigned URLs go to ``region``'s endpoint (None: the function's region).

    Virtual-hosted (``BUCKET.s3.REGION.amazonaws.com``), except for a bucket name with
    a dot, which no wildcard certificate covers: path style then
    (``s3.REGION.amazonaws.com/BUCKET``). us-east-1 too gets its regional name.
    """
    import boto3  # imported lazily: most invocations never touch S3
    from botocore.config import Config

    style = addressing_style or ("path" if "." in bucket else "virtual")
    # Short timeouts and no retries past the deadline: an S3 that cannot be reached costs seconds, not the answer.
    options: dict[str, Any] = {
        "signature_version": "s3v4", "connect_timeout": S3_CONNECT_TIMEOUT_SECONDS, "read_timeout": read_timeout,
        "retries": {"total_max_attempts": 2 if read_timeout >= S3_READ_TIMEOUT_SECONDS else 1},
        "s3": {"addressing_style": style, "us_east_1_regional_endpoint": "regional"},
    }
    # Checksums only where S3 requires them: a presigned PUT must not expect one the client never sends.
    # The runtime's botocore may predate the setting (1.36).
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
        options["request_checksum_calculation"] = "when_required"
    return boto3.client("s3", region_name=region, config=Config(**options))


def bucket_region(s3: Any, bucket: str) -> str | None:
    """The bucket's region, from GetBucketLocation; None when S3 will not say.

    A refusal often names the region anyway, in its ``x-amz-bucket-region`` header.
    """
    try:
        answer = s3.get_bucket_location(Bucket=bucket)
    except Exception as problem:  # denied, or S3 out of reach: the caller falls back to the function's region
        response = getattr(problem, "response", None) or {}
        region: str | None = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
        return region
    location: str | None = answer.get("LocationConstraint")
    return _LEGACY_LOCATIONS.get(location, location)



def inline_budget(characters: int, streams: int = 2) -> int:
    """How many bytes can go inline when their base64 may take ``characters`` in all."""
    # Each stream's base64 may end in up to 4 characters of padding.
    return max(0, (characters - 4 * streams) // 4 * 3)


def shape_streams(
    streams: dict[str, Path],
    *,
    budget: int,
    compress: bool,
    spill: SpillTarget | None,
    key_stem: str,
    deadline: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Describe each stream for the response, keeping at most ``budget`` bytes inline in all.

    ``budget`` counts the bytes before base64; see ``inline_budget``. All is done
    by ``deadline`` (a ``time.monotonic()`` value), falling back to cutting.
    """
    sizes = {name: path.stat().st_size for name, path in streams.items()}
    inline: dict[str, bytes] = {}
    encodings: dict[str, str] = {}
    # Small streams first: they are the cheapest to keep inline.
    remaining = budget
    overflow: list[str] = []
    for name in sorted(streams, key=lambda n: sizes[n]):
        packed = _pack(streams[name], sizes[name], remaining, compress, deadline)
        if packed is None:
            overflow.append(name)
            continue
        data, encoding = packed
        inline[name], encodings[name] = data, encoding
        remaining -= len(data)

    shaped: dict[str, dict[str, Any]] = {}
    cut_reasons: dict[str, str] = {}
    for name in streams:
        if name in inline:
            shaped[name] = {
                "size": sizes[name], "encoding": encodings[name],
                "data": base64.b64encode(inline[name]).decode("ascii"), "lost": 0,
            }
        elif spill is not None:
            try:
                shaped[name] = {"size": sizes[name], "lost": 0,
                                "s3": spill_to_s3(streams[name], spill, f"{key_stem}/{name}", deadline)}
            except OutOfTime:
                cut_reasons[name] = ("it was too big to return inline and the spill to S3 could not finish before "
                                     "the function's deadline")
            except Exception as problem:  # S3 down or refusing: cut the stream and say why, never fail the answer
                cut_reasons[name] = (f"it was too big to return inline and the spill to s3://{spill.bucket} "
                                     f"failed: {_reason(problem)}")
    # The streams that did not fit and could not spill share what is left, in order.
    for name in overflow:
        if name not in shaped:
            data = _read_head(streams[name], min(sizes[name], max(0, remaining)))
            remaining -= len(data)
            shaped[name] = {
                "size": sizes[name], "encoding": "base64",
                "data": base64.b64encode(data).decode("ascii"), "lost": sizes[name] - len(data),
            }
            if name in cut_reasons:
                shaped[name]["cut_reason"] = cut_reasons[name]
    return {name: shaped[name] for name in streams}


def _reason(problem: BaseException) -> str:
    text = str(problem).splitlines()[0] if str(problem) else ""
    return f"{type(problem).__name__}: {text}" if text else type(problem).__name__


def _pack(path: Path, size: int, budget: int, compress: bool, deadline: float | None) -> tuple[bytes, str] | None:
    """The stream's bytes as they would go inline, or None when they cannot fit."""
    fits_raw = size <= budget
    # Compressing may take no more than half the time left: the rest may be needed to spill.
    give_up_at = None if deadline is None else time.monotonic() + (deadline - time.monotonic()) / 2
    if compress and size >= COMPRESS_MIN_BYTES and (
            give_up_at is None or size / COMPRESS_BYTES_PER_SECOND < give_up_at - time.monotonic()):
        compressed = _compress_within(path, budget, give_up_at)
        if compressed is not None and len(compressed) < size:
            return compressed, "zlib+base64"
    if fits_raw:
        return (path.read_bytes() if size else b""), "base64"
    return None


def _compress_within(path: Path, limit: int, give_up_at: float | None = None) -> bytes | None:
    """zlib-compress a file, giving up as soon as the result exceeds ``limit`` bytes, or time runs out."""
    compressor = zlib.compressobj(6)
    parts: list[bytes] = []
    total = 0
    with open(path, "rb") as source:
        while chunk := source.read(_READ_CHUNK):
            part = compressor.compress(chunk)
            total += len(part)
            if total > limit or (give_up_at is not None and time.monotonic() > give_up_at):
                return None
            parts.append(part)
    tail = compressor.flush()
    if total + len(tail) > limit:
        return None
    parts.append(tail)
    return b"".join(parts)


def _read_head(path: Path, count: int) -> bytes:
    with open(path, "rb") as source:
        return source.read(count)


def spill_to_s3(path: Path, target: SpillTarget, key: str, deadline: float | None = None) -> dict[str, Any]:
    """Upload a spool file to S3 part by part, and describe the object for the client.

    The object is private and encrypted with SSE-S3. The client gets presigned
    URLs to read and delete it, so it needs no S3 permission of its own. OutOfTime
    when it could not finish by ``deadline``; nothing is left behind then.
    """
    if deadline is not None and time.monotonic() + SPILL_FINISH_SECONDS > deadline:
        raise OutOfTime()
    s3, bucket = target.client(deadline), target.bucket
    full_key = f"{target.prefix.strip('/')}/{key}" if target.prefix.strip("/") else key
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as source:
        if size <= SPILL_PART_BYTES:
            body = source.read()
            digest.update(body)
            s3.put_object(Bucket=bucket, Key=full_key, Body=body, ServerSideEncryption="AES256")
        else:
            _multipart_upload(s3, bucket, full_key, source.read, digest.update, deadline)
    return {
        "bucket": bucket,
        "key": full_key,
        "size": size,
        "sha256": digest.hexdigest(),
        "get_url": presign(s3, "get_object", bucket, full_key),
        "delete_url": presign(s3, "delete_object", bucket, full_key),
        "expires_in": PRESIGN_EXPIRY_SECONDS,
    }


def _multipart_upload(
    s3: Any, bucket: str, key: str, read: Callable[[int], bytes], observe: Callable[[bytes], object],
    deadline: float | None,
) -> None:
    """Upload part by part while each next part can still finish in time; abort the upload otherwise."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ServerSideEncryption="AES256")["UploadId"]
    try:
        parts = []
        number = 1
        slowest = 0.0
        while chunk := read(SPILL_PART_BYTES):
            if deadline is not None and time.monotonic() + slowest * 1.5 + SPILL_FINISH_SECONDS > deadline:
                raise OutOfTime()
            observe(chunk)
            started = time.monotonic()
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)["ETag"]
            slowest = max(slowest, time.monotonic() - started)
            parts.append({"ETag": etag, "PartNumber": number})
            number += 1
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # S3 gone: the bucket's lifecycle rule aborts it after a day
            pass
        raise


def presign(s3: Any, method: str, bucket: str, key: str, **params: Any) -> str:
    """A URL that lets the holder call ``method`` on one object for a few minutes."""
    url: str = s3.generate_presigned_url(
        method, Params={"Bucket": bucket, "Key": key, **params}, ExpiresIn=PRESIGN_EXPIRY_SECONDS
    )
    return url
