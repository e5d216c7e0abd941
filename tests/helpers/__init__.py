"""What tests share besides fixtures: a hermetic environment, ports and waiting,
the installed command, a served local Lambda, process checks, a fake Lambda context, a beacon
a sandbox's command reaches to say it ran.

Tests import from here; ``tests/conftest.py`` holds only fixtures and hooks.
"""

from tests.helpers.beacon import Beacon
from tests.helpers.cli import CALLERS_ENVIRON, LAMBDASH, Run, run_as_caller, run_lambdash
from tests.helpers.environment import (
    HERMETIC_SETTINGS,
    ROOT,
    TEST_CREDENTIALS,
    clean_environ,
    closed_loopback_url,
    config_file,
    from_the_callers_shell,
    hermetic_environment,
    state_dir,
)
from tests.helpers.handler import FakeContext, unpack_as_lambda_does
from tests.helpers.iam import AwsCallRecorder
from tests.helpers.live import LiveLambdash
from tests.helpers.processes import embedded_s3_children, still_running
from tests.helpers.serve import serving
from tests.helpers.waiting import bucket_keys, free_port, wait_for_port, wait_until

__all__ = [
    "CALLERS_ENVIRON",
    "HERMETIC_SETTINGS",
    "LAMBDASH",
    "ROOT",
    "TEST_CREDENTIALS",
    "AwsCallRecorder",
    "Beacon",
    "FakeContext",
    "LiveLambdash",
    "Run",
    "bucket_keys",
    "clean_environ",
    "closed_loopback_url",
    "config_file",
    "embedded_s3_children",
    "free_port",
    "from_the_callers_shell",
    "hermetic_environment",
    "run_as_caller",
    "run_lambdash",
    "serving",
    "state_dir",
    "still_running",
    "unpack_as_lambda_does",
    "wait_for_port",
    "wait_until",
]
