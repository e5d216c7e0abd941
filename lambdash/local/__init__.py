"""The local Lambda: an emulator on loopback that runs handler/ in real sandbox processes.

It speaks Lambda's Invoke API to clients and the Runtime API to sandboxes, so
the client takes the same code path locally as against AWS. ``server`` holds
``LocalLambda``; ``function`` the hosted function's settings; ``sandbox`` the
sandboxes and their pool, each below a ``supervisor``; ``runtime_api`` and ``http``
the two APIs' HTTP; ``signature`` and ``credentials`` who may call it;
``eventstream`` the streamed response's framing. Nothing is imported here, so a
client that only reads ``credentials`` pays for nothing else.
"""
