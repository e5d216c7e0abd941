"""A command's output as a live response stream, with the rest spilled when the stream cannot keep up.

``StreamedOutput`` takes what the command writes (from ``run_command_streaming``)
and sends it as records (see ``records``) through a sender thread, so reading the
command's pipes never waits on the network. Lambda streams the first 6 MB of a
response at full speed and then about 2 MB/s, up to 200 MB, and a command may
write much faster. When the backlog grows past what can drain soon, or past
what can drain before the deadline, or the stream would pass its limit, the rest
of the output goes to spool files instead: the final record then says where it
is (spilled to the bucket, for the client to fetch after the stream, in order) or
how much was cut (no bucket). Memory stays bounded by the backlog limit.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from handler.records import HEARTBEAT, MAX_CHUNK_BYTES, PREAMBLE, RESULT, STDERR, STDOUT, encode_record

# A streamed response may carry this much; past it the rest is spilled (or cut).
STREAM_LIMIT_BYTES = 200 * 1024 * 1024
# Room kept under that limit for the result record and what is in flight.
STREAM_LIMIT_MARGIN_BYTES = 1024 * 1024
# More unsent output than this cannot drain soon (2 s at Lambda's 2 MB/s): switch to the spool.
BACKLOG_LIMIT_BYTES = 4 * 1024 * 1024
# Output must be sent this long before the deadline; what would take longer is spilled.
DRAIN_MARGIN_SECONDS = 1.0
_KIND = {"stdout": STDOUT, "stderr": STDERR}

Send = Callable[[bytes], None]


class StreamedOutput:
    """The sink of a streaming command: records out as they come, the rest to spool files past the limits."""

    def __init__(self, send: Send, rest_paths: dict[str, Path], deadline: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._rest_paths = rest_paths
        self._rest_files: dict[str, IO[bytes]] = {}
        self._deadline = deadline
        self._clock = clock
        self.sizes = {"stdout": 0, "stderr": 0}
        self.streamed = {"stdout": 0, "stderr": 0}
        self.switched = False
        self.switch_reason: str | None = None
        self.unwritten = {"stdout": 0, "stderr": 0}
        self.unwritten_reason: str | None = None
        self.failed: BaseException | None = None
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._sent_bytes = 0
        self._first_sent_at: float | None = None
        self._condition = threading.Condition()
        self._closing = False
        self._sender = threading.Thread(target=self._send_loop, name="stream-sender", daemon=True)
        self._enqueue(PREAMBLE)
        self._sender.start()

    # --- the sink ------------------------------------------------------------------------------

    def __call__(self, name: str, data: bytes) -> None:
        if not name:
            self._enqueue(encode_record(HEARTBEAT))
            return
        self.sizes[name] += len(data)
        if not self.switched:
            reason = self._reason_to_switch(len(data))
            if reason is not None:
                self.switched, self.switch_reason = True, reason
        if self.switched:
            try:
                self._rest(name).write(data)
            except OSError as problem:  # the temp dir is full: this much is lost, and the result says so
                self.unwritten[name] += len(data)
                self.unwritten_reason = f"the sandbox's temp dir could not hold it ({problem.strerror})"
            return
        for start in range(0, len(data), MAX_CHUNK_BYTES):
            piece = data[start:start + MAX_CHUNK_BYTES]
            self.streamed[name] += len(piece)
            self._enqueue(encode_record(_KIND[name], piece))

    def _reason_to_switch(self, incoming: int) -> str | None:
        if self.failed is not None:
            return f"the stream broke: {self.failed}"
        with self._condition:
            backlog, sent = self._queued_bytes, self._sent_bytes
            rate = self._rate()
        if sent + backlog + incoming > STREAM_LIMIT_BYTES - STREAM_LIMIT_MARGIN_BYTES:
            return f"the stream reached its limit of {STREAM_LIMIT_BYTES} bytes"
        if backlog > BACKLOG_LIMIT_BYTES:
            return "the command wrote faster than the stream could carry it"
        if rate and (backlog + incoming) / rate > self._deadline - self._clock() - DRAIN_MARGIN_SECONDS:
            return "what was left to send could not reach the client before the deadline"
        return None

    def _rate(self) -> float | None:
        """Bytes per second sent so far, once there is enough to tell."""
        if self._first_sent_at is None or self._sent_bytes < 1024 * 1024:
            return None
        elapsed = self._clock() - self._first_sent_at
        return self._sent_bytes / elapsed if elapsed > 0.05 else None

    def _rest(self, name: str) -> IO[bytes]:
        if name not in self._rest_files:
            self._rest_files[name] = open(self._rest_paths[name], "wb")  # noqa: SIM115 - closed in finish
        return self._rest_files[name]

    # --- the sender ----------------------------------------------------------------------------

    def _enqueue(self, record: bytes) -> None:
        with self._condition:
            self._queue.append(record)
            self._queued_bytes += len(record)
            self._condition.notify()

    def _send_loop(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    return
                record = self._queue.popleft()
            try:
                if self.failed is None:
                    self._send(record)
            except Exception as problem:  # the client went away: the command goes on, its output is kept
                self.failed = problem
            with self._condition:
                self._queued_bytes -= len(record)
                self._sent_bytes += len(record)
                if self._first_sent_at is None:
                    self._first_sent_at = self._clock()
                self._condition.notify_all()

    def finish(self, result: dict[str, Any], describe_rest: Callable[[str, Path, int], dict[str, Any]]) -> None:
        """Send the final record: ``result``, with each stream's streamed bytes and where its rest is."""
        for file in self._rest_files.values():
            file.close()
        streams: dict[str, Any] = {}
        for name in ("stdout", "stderr"):
            rest = self.sizes[name] - self.streamed[name] - self.unwritten[name]
            entry: dict[str, Any] = {"size": self.sizes[name], "streamed": self.streamed[name], "lost": 0}
            if rest:
                entry.update(describe_rest(name, self._rest_paths[name], rest))
            if self.unwritten[name]:
                entry["lost"] += self.unwritten[name]
                entry["cut_reason"] = self.unwritten_reason
            streams[name] = entry
        if self.switch_reason:
            result["stream_switch"] = self.switch_reason
        result.update(streams)
        result["truncated"] = any(stream["lost"] for stream in streams.values())
        self._enqueue(encode_record(RESULT, json.dumps(result).encode()))
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._sender.join()
