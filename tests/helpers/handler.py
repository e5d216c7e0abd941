"""A fake Lambda context, for tests that call the handler directly."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


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
