"""The handler as tests run it: a fake Lambda context for calling it directly, and its zip unpacked as Lambda does."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FakeContext:
    """The parts of Lambda's context the handler uses, with a real deadline."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "lambdash"
    memory_limit_in_mb: int = 1024
    timeout: float = 30.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout - time.monotonic()) * 1000))


def unpack_as_lambda_does(zip_bytes: bytes, task_root: Path) -> None:
    """Unpack with each entry's mode, as Lambda does (zipfile alone would drop the run bits)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        archive.extractall(task_root)
        for entry in archive.infolist():
            (task_root / entry.filename).chmod((entry.external_attr >> 16) & 0o777)
