"""lambdash's tags: which resources it owns, and the records a function carries of how it was deployed.

Everything lambdash makes is tagged ``lambdash=managed``, and destroy removes nothing
without it. The function also carries records as ``key=value`` words in one tag
value (``lambdash:settings``, and a twin's three); they are written by
``encode_record`` and read by ``decode_record``, the only codec of them. A Lambda
tag value holds at most 256 characters and no commas, so what may be long (VPC ids,
layers, a borrowed role) is recorded as a short digest.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdash.deploy.observed import FunctionState
    from lambdash.deploy.settings import DeploySettings, FileSystem

# Everything lambdash creates carries this tag; destroy removes nothing without it.
MANAGED_TAG_KEY = "lambdash"
MANAGED_TAG_VALUE = "managed"
# The function also records the settings it was deployed with, so `status` can report drift.
SETTINGS_TAG_KEY = "lambdash:settings"
# A twin (`deploy --like FUNCTION`) also carries FUNCTION's ARN, FUNCTION's settings when the twin was
# made (for status's drift from FUNCTION), and digests of what it copied (for drift of its own). Three
# tags, because a Lambda tag value holds at most 256 characters.
TWIN_OF_TAG_KEY = "lambdash:like"
ORIGINAL_RECORD_TAG_KEY = "lambdash:like-record"
# A twin with its original's code (--with-code): the CodeSha256 of that code when it was copied.
CODE_OF_TAG_KEY = "lambdash:like-code"
TWIN_RECORD_TAG_KEY = "lambdash:twin"
# Lambda's tag values: at most 256 of letters, spaces, digits and these ([\p{L}\p{Z}\p{N}_.:/=+\-@]*).
TAG_VALUE_PUNCTUATION = frozenset("_.:/=+-@")
TAG_VALUE_MAX_CHARACTERS = 256


def is_valid_tag_value(value: str) -> bool:
    """Whether Lambda takes ``value`` as a tag value."""
    return len(value) <= TAG_VALUE_MAX_CHARACTERS and all(
        character in TAG_VALUE_PUNCTUATION or unicodedata.category(character)[0] in "LZN" for character in value)


def function_arn_tag(arn: str) -> str:
    """A function's ARN as a tag value: ``NAME:$LATEST`` is the function itself, and a tag value holds no ``$``."""
    return arn.removesuffix(":$LATEST")


def encode_record(fields: Mapping[str, str]) -> str:
    """``key=value`` words in one tag value (spaces, no commas: Lambda tag values forbid them)."""
    return " ".join(f"{key}={value}" for key, value in fields.items())


def decode_record(value: str) -> dict[str, str]:
    """The ``key=value`` words of a record tag."""
    return dict(item.partition("=")[::2] for item in value.split())


def is_managed(tags: Mapping[str, str]) -> bool:
    """Whether a resource with these tags was made by lambdash."""
    return tags.get(MANAGED_TAG_KEY) == MANAGED_TAG_VALUE


def function_tags(settings: DeploySettings) -> dict[str, str]:
    """The function's tags: managed, its settings, and for a twin, what it is a twin of and what it copied."""
    tags = {MANAGED_TAG_KEY: MANAGED_TAG_VALUE, SETTINGS_TAG_KEY: settings_record(settings)}
    if settings.twin_of is not None:
        tags.update({TWIN_OF_TAG_KEY: settings.twin_of, ORIGINAL_RECORD_TAG_KEY: settings.original_record,
                     TWIN_RECORD_TAG_KEY: twin_record(settings)})
    if settings.code_of is not None:
        tags[CODE_OF_TAG_KEY] = settings.code_of
    return tags


def settings_record(settings: DeploySettings) -> str:
    """The settings as one tag value (``lambdash:settings``)."""
    return encode_record({
        "runtime": settings.runtime,
        "arch": settings.architecture,
        "memory": str(settings.memory_mb),
        "timeout": str(settings.timeout_seconds),
        "tmp": str(settings.ephemeral_storage_mb),
        "bucket": settings.bucket or "-",
        "prefix": settings.prefix,
        "vpc": vpc_digest(settings.subnet_ids, settings.security_group_ids),
        "stream": _on_off(settings.stream),
    })


def settings_from_record(settings: DeploySettings, record: str) -> DeploySettings:
    """``settings`` with the recorded ones applied (the VPC ids stay: only their digest is recorded)."""
    fields = decode_record(record)
    try:
        return replace(
            settings,
            runtime=fields.get("runtime", settings.runtime),
            architecture=fields.get("arch", settings.architecture),
            memory_mb=int(fields.get("memory", settings.memory_mb)),
            timeout_seconds=int(fields.get("timeout", settings.timeout_seconds)),
            ephemeral_storage_mb=int(fields.get("tmp", settings.ephemeral_storage_mb)),
            bucket=None if fields.get("bucket") == "-" else fields.get("bucket", settings.bucket),
            prefix=fields.get("prefix", settings.prefix),
            # Deploys from before streaming recorded no stream field, and set up no wrapper.
            stream=fields.get("stream", "off") == "on",
        )
    except ValueError:
        return settings


def twin_record(settings: DeploySettings) -> str:
    """What a twin copied, as digests (``lambdash:twin``; the values may not fit, and env values are secrets)."""
    copied_names = (name for name, _ in settings.copied_environment)
    return encode_record({
        "layers": digest(settings.layers),
        "ipv6": _on_off(settings.ipv6_dual_stack),
        "fs": file_systems_digest(settings.file_systems),
        "env": digest(copied_names) if settings.environment_copied else "-",
        "kms": digest([settings.kms_key_arn]) if settings.kms_key_arn else "-",
        "role": "own" if settings.execution_role_arn is None else digest([settings.execution_role_arn]),
    })


def original_record(original: FunctionState) -> str:
    """The settings of a twin's original, as one tag value (``lambdash:like-record``).

    ``status`` compares it with the function as it is now, to say what changed since the twin was made.
    """
    network = [*original.subnet_ids, "/", *original.security_group_ids, f"ipv6={original.ipv6_dual_stack}"]
    return encode_record({
        "runtime": "image" if original.package_type == "Image" else (original.runtime or "-"),
        "arch": original.architecture,
        "memory": str(original.memory_mb),
        "timeout": str(original.timeout_seconds),
        "tmp": str(original.ephemeral_storage_mb),
        "layers": digest(original.layers),
        "vpc": digest(network),
        "fs": file_systems_digest(original.file_systems),
        # Tag values allow no '?': "unknown" when Lambda could not show the environment.
        "env": "unknown" if original.environment_error else digest(sorted(original.environment)),
        "kms": digest([original.kms_key_arn]) if original.kms_key_arn else "-",
        "role": digest([original.role_arn]),
    })


def digest(parts: Iterable[str | None]) -> str:
    """A short fingerprint of a list of values (a tag holds at most 256 characters; order counts)."""
    return hashlib.sha256("\n".join(part or "" for part in parts).encode()).hexdigest()[:12]


def file_systems_digest(systems: Iterable[FileSystem]) -> str:
    return digest(f"{system.arn}={system.mount_path}" for system in systems)


def vpc_digest(subnet_ids: tuple[str, ...], security_group_ids: tuple[str, ...]) -> str:
    """A short fingerprint of the VPC settings (the ids themselves may not fit in a tag)."""
    if not subnet_ids and not security_group_ids:
        return "-"
    text = ",".join(sorted(subnet_ids)) + "/" + ",".join(sorted(security_group_ids))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"
