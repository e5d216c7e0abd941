"""A command's output as a live response stream, with the rest spilled when the stream cannot keep up.

``StreamedOutput`` takes what the command writes (from ``run_command_streaming``)
and sends it as records (see ``records``) through a sender thread, so reading the
command's pipes never waits on the network. Lambda streams the first 6 MB of a
response at full speed and then about 2 MB/s, up to 200 MB, and a command may
write much faster. When the backlog grows past what can drain soon, or past
what can drain before the deadline, or the stream would pass its limit, the rest
of the output goes to spool files instead: the final record then says where it
is (spilled to the bucket, for the client to fetch after the stream, in order) or
how much was cut (no bucket: then only the deadline and the limit switch it, since a
slow stream still loses nothing). Memory stays bounded by the backlog limit.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .contract.records import (
    HEARTBEAT,
    MAX_CHUNK_BYTES,
    PREAMBLE,
    RECORD_HEADER_BYTES,
    RESULT,
    STDERR,
    STDOUT,
    encode_record,
)
from .limits import STREAM_LIMIT_BYTES

# Room kept under the stream's limit (STREAM_LIMIT_BYTES) for the result record and what is in flight.
STREAM_LIMIT_MARGIN_BYTES = 1024 * 1024
# Output that would take longer than this to drain at the rate the stream carries it cannot drain
# soon: the rest goes to the spool (at Lambda's 2 MB/s, a backlog of 4 MB).
DRAIN_SOON_SECONDS = 2.0
# Before the rate is known, a backlog this big is taken as one that cannot drain soon.
BACKLOG_LIMIT_BYTES = 4 * 1024 * 1024
# Unsent output is held in memory up to this much; past it, reading the command waits (it blocks on its pipe).
MAX_BACKLOG_BYTES = 6 * 1024 * 1024
# The rate is measured over this recent stretch, so a fast start does not hide a slow stream.
RATE_WINDOW_SECONDS = 1.0
# Output must be sent this long before the deadline; what would take longer is spilled.
DRAIN_MARGIN_SECONDS = 1.0
# Bytes that may sit between here and the client (socket buffers, Lambda's own) once sent: they
# drain at the stream's rate too, so the deadline is judged with them counted.
IN_FLIGHT_ALLOWANCE_BYTES = 4 * 1024 * 1024
_KIND = {"stdout": STDOUT, "stderr": STDERR}

Send = Callable[[bytes], None]


class StreamedOutput:
    """The sink of a streaming command: records out as they come, the rest to spool files past the limits."""

    def __init__(self, send: Send, rest_paths: dict[str, Path], deadline: float, *, can_spill: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        # Without a bucket the rest would be cut: a slow stream still beats losing output, so only
        # the deadline and the stream's limit switch it then.
        self._can_spill = can_spill
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
        self.dropped = {"stdout": 0, "stderr": 0}
        self.failed: BaseException | None = None
        # Records not yet sent, each with the stream it carries ("" for the others).
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._queued_bytes = 0
        self._sent_bytes = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._condition = threading.Condition()
        self._closing = False
        self._sender = threading.Thread(target=self._send_loop, name="stream-sender", daemon=True)
        self._enqueue("", PREAMBLE)
        self._sender.start()

    # --- the sink ------------------------------------------------------------------------------

    def __call__(self, name: str, data: bytes) -> None:
        if not name:
            self._enqueue("", encode_record(HEARTBEAT))
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
            self._enqueue(name, encode_record(_KIND[name], piece))

    def send_record(self, kind: bytes, payload: bytes) -> None:
        """A record of another kind (a session's news), in order with the output around it."""
        self._enqueue("", encode_record(kind, payload))

    def _reason_to_switch(self, incoming: int) -> str | None:
        if self.failed is not None:
            return f"the stream broke: {self.failed}"
        with self._condition:
            backlog, sent = self._queued_bytes, self._sent_bytes
            rate = self._rate()
        if sent + backlog + incoming > STREAM_LIMIT_BYTES - STREAM_LIMIT_MARGIN_BYTES:
            return f"the stream reached its limit of {STREAM_LIMIT_BYTES} bytes"
        pending = backlog + incoming
        in_flight = min(sent, IN_FLIGHT_ALLOWANCE_BYTES)
        if rate is not None and (pending + in_flight) / rate > self._deadline - self._clock() - DRAIN_MARGIN_SECONDS:
            return "what was left to send could not reach the client before the deadline"
        if not self._can_spill:
            return None
        if rate is None:
            return "the command wrote faster than the stream could carry it" if backlog > BACKLOG_LIMIT_BYTES else None
        if pending / rate > DRAIN_SOON_SECONDS and backlog > MAX_CHUNK_BYTES:
            return "the command wrote faster than the stream could carry it"
        return None

    def _rate(self) -> float | None:
        """Bytes per second sent recently, once there is enough to tell (called with the lock held)."""
        now = self._clock()
        while self._recent and now - self._recent[0][0] > RATE_WINDOW_SECONDS:
            self._recent.popleft()
        sent = sum(size for _, size in self._recent)
        if sent < 256 * 1024 or not self._recent:
            return None
        elapsed = now - self._recent[0][0]
        return sent / elapsed if elapsed > 0.05 else None

    def _rest(self, name: str) -> IO[bytes]:
        if name not in self._rest_files:
            self._rest_files[name] = open(self._rest_paths[name], "wb")  # noqa: SIM115 - closed in finish
        return self._rest_files[name]

    # --- the sender ----------------------------------------------------------------------------

    def _enqueue(self, name: str, record: bytes) -> None:
        with self._condition:
            # Memory stays bounded: past the cap, the command waits on its pipe while the stream drains.
            while self._queued_bytes > MAX_BACKLOG_BYTES and self.failed is None:
                self._condition.wait(0.5)
            self._queue.append((name, record))
            self._queued_bytes += len(record)
            self._condition.notify()

    def _send_loop(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    return
                _, record = self._queue.popleft()
            try:
                if self.failed is None:
                    self._send(record)
            except Exception as problem:  # the client went away: the command goes on, its output is kept
                self.failed = problem
            with self._condition:
                self._queued_bytes -= len(record)
                self._sent_bytes += len(record)
                self._recent.append((self._clock(), len(record)))
                self._condition.notify_all()

    def finish(self, result: dict[str, Any], describe_rest: Callable[[str, Path, int], dict[str, Any]]) -> None:
        """Send the final record: ``result``, with each stream's streamed bytes and where its rest is.

        What is still unsent when it could no longer reach the client before the
        deadline is dropped and counted as lost, so the result always arrives.
        """
        for file in self._rest_files.values():
            file.close()
        self._drain_or_drop()
        streams: dict[str, Any] = {}
        for name in ("stdout", "stderr"):
            rest = self.sizes[name] - self.streamed[name] - self.unwritten[name] - self.dropped[name]
            entry: dict[str, Any] = {"size": self.sizes[name], "streamed": self.streamed[name], "lost": 0}
            if rest and self.dropped[name]:
                entry["lost"] += rest  # after a gap the rest would not follow on: the output stays a prefix
            elif rest:
                entry.update(describe_rest(name, self._rest_paths[name], rest))
            if self.unwritten[name]:
                entry["lost"] += self.unwritten[name]
                entry["cut_reason"] = self.unwritten_reason
            if self.dropped[name]:
                entry["lost"] += self.dropped[name]
                entry["cut_reason"] = "the stream could not carry it before the deadline"
            streams[name] = entry
        if self.switch_reason:
            result["stream_switch"] = self.switch_reason
        result.update(streams)
        result["truncated"] = any(stream["lost"] for stream in streams.values())
        self._enqueue("", encode_record(RESULT, json.dumps(result).encode()))
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._sender.join()

    def _drain_or_drop(self) -> None:
        """Wait for the backlog to go out while it still can reach the client in time; drop what cannot."""
        with self._condition:
            rate = self._rate()
            in_flight = min(self._sent_bytes, IN_FLIGHT_ALLOWANCE_BYTES)
            cutoff = self._deadline - DRAIN_MARGIN_SECONDS - (in_flight / rate if rate else 0.0)
            while self._queue and self.failed is None and self._clock() < cutoff:
                self._condition.wait(min(0.1, max(0.0, cutoff - self._clock())))
            while self._queue and self.failed is None:
                name, record = self._queue.pop()
                self._queued_bytes -= len(record)
                if name:
                    size = len(record) - RECORD_HEADER_BYTES
                    self.streamed[name] -= size
                    self.dropped[name] += size
