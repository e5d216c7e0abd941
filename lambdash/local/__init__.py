"""The local Lambda: an emulator on loopback that runs handler/ in real sandbox processes.

It speaks Lambda's Invoke API to clients and the Runtime API to sandboxes, so
the client takes the same code path locally as against AWS.
"""

from lambdash.local.function import FunctionConfig
from lambdash.local.server import LocalLambda

__all__ = ["FunctionConfig", "LocalLambda"]
