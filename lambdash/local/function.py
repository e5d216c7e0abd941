"""The one function the local Lambda hosts: its settings, with Lambda's defaults where lambdash has none.

``lambdash serve``, ``--local`` and the tests all start from ``FunctionConfig()``,
so each default below is written once; those a deployed function has too come from
``lambdash.lambda_defaults``, which deploy uses.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lambdash import lambda_defaults

# Re-exported ("as"): `lambdash serve` shows them as its options' defaults.
from lambdash.lambda_defaults import DEFAULT_EPHEMERAL_STORAGE_MB as DEFAULT_EPHEMERAL_STORAGE_MB
from lambdash.lambda_defaults import DEFAULT_FUNCTION_NAME
from lambdash.lambda_defaults import DEFAULT_MEMORY_MB as DEFAULT_MEMORY_MB
from lambdash_handler.contract import HANDLER

# How long a command may run on the local Lambda unless asked for more; in seconds, as FunctionConfig.timeout.
DEFAULT_TIMEOUT_SECONDS = float(lambda_defaults.DEFAULT_TIMEOUT_SECONDS)
# At most this many sandboxes at once; past that, callers get 429 as on Lambda.
DEFAULT_CONCURRENCY = 10
# A sandbox left idle this long is reaped.
DEFAULT_IDLE_TIMEOUT_SECONDS = 600.0
# What `lambdash serve` takes: Lambda's own ranges, except the temp dir, which may be smaller than Lambda
# allows (512 MB) so that a full one can be tried in seconds; and the reaper's, which Lambda does not say.
MAX_CONCURRENCY = 1000
MAX_IDLE_TIMEOUT_SECONDS = 86400.0
LOCAL_EPHEMERAL_STORAGE_RANGE_MB = (1, 10240)
# A function has at most this many layers on Lambda.
MAX_LAYERS = 5
# Set (to 1) in the environment, it runs every sandbox unisolated, on the host: the way for `--local`
# (`lambdash serve` also has --unisolated).
ENV_UNISOLATED = "LAMBDASH_UNISOLATED"


def unisolated_by_environment() -> bool:
    """Whether the environment asks for sandboxes run on the host (LAMBDASH_UNISOLATED=1)."""
    return os.environ.get(ENV_UNISOLATED, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class FunctionConfig:
    """The one function the local Lambda hosts."""

    name: str = DEFAULT_FUNCTION_NAME
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    concurrency: int = DEFAULT_CONCURRENCY
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    region: str = "us-east-1"
    account: str = "000000000000"
    handler: str = HANDLER
    task_root: Path | None = None
    python: str = sys.executable
    environment: dict[str, str] = field(default_factory=dict)
    # The size of each sandbox's private temp dir.
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    # The managed runtime's command line; None runs the handler under awslambdaric, as Lambda's Python runtimes do.
    runtime_command: tuple[str, ...] | None = None
    # "lambdash": start through the handler's exec wrapper (its own runtime loop, which streams), as deploy
    # sets it up; "awslambdaric": the managed runtime unchanged. Only a task root with the wrapper has the first.
    runtime: str = "lambdash"
    # Each sandbox in user and mount namespaces of its own, shaped like Lambda's (read-only root, private /tmp,
    # the code at /var/task, uid 993); False runs it on the host, with only its temp dir private.
    isolated: bool = field(default_factory=lambda: not unisolated_by_environment())
    # Directories whose content is laid under /opt, the later over the earlier, as Lambda lays layers.
    layers: tuple[Path, ...] = ()
    # A devpts of each sandbox's own, so it can open pseudo-terminals (Lambda has none).
    pty: bool = False

    @property
    def runtime_argv(self) -> tuple[str, ...]:
        return self.runtime_command or (self.python, "-m", "awslambdaric", self.handler)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"



def function_configuration(config: FunctionConfig) -> dict[str, object]:
    """What GetFunctionConfiguration answers for the local function."""
    return {
        "FunctionName": config.name,
        "FunctionArn": config.arn,
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Handler": config.handler,
        "Timeout": int(config.timeout),
        "MemorySize": config.memory_mb,
        "Version": "$LATEST",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [os.uname().machine.replace("aarch64", "arm64")],
        "Environment": {"Variables": dict(config.environment)},
        "EphemeralStorage": {"Size": config.ephemeral_storage_mb},
        "Description": json.dumps({"local": True}),
    }
