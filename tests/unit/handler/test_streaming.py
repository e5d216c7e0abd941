"""When a stream cannot keep up: the switch to spooling the rest, as the final record describes it.

The stream here is a function that sleeps as AWS's 2 MB/s would; the records it
gets are read back with the same reader the client uses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lambdash_handler.contract.records import RESULT, STDOUT, RecordReader
from lambdash_handler.streaming import StreamedOutput


class SlowStream:
    """Takes bytes at ``rate`` bytes per second, and keeps what it got."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.received = bytearray()

    def __call__(self, data: bytes) -> None:
        time.sleep(len(data) / self.rate)
        self.received += data

    def records(self) -> list[tuple[bytes, bytes]]:
        return list(RecordReader().feed(bytes(self.received)))


def describe_spilled(name: str, path: Path, size: int) -> dict[str, Any]:
    assert path.stat().st_size == size
    return {"s3": {"key": f"out/{name}", "size": size}}


def feed(output: StreamedOutput, total: int, piece: int = 64 * 1024) -> bytes:
    written = bytearray()
    for start in range(0, total, piece):
        data = bytes([65 + (start // piece) % 26]) * min(piece, total - start)
        output("stdout", data)
        written += data
    return bytes(written)


def test_a_command_faster_than_the_stream_spills_the_rest_in_order(tmp_path: Path) -> None:
    stream = SlowStream(rate=8 * 1024 * 1024)  # slow enough that a fast writer builds a backlog
    rest = {"stdout": tmp_path / "rest-out", "stderr": tmp_path / "rest-err"}
    output = StreamedOutput(stream, rest, time.monotonic() + 60, can_spill=True)
    written = feed(output, 40 * 1024 * 1024)
    output.finish({"ok": True}, describe_spilled)
    records = stream.records()
    streamed = b"".join(payload for kind, payload in records if kind == STDOUT)
    result = json.loads(records[-1][1])
    assert records[-1][0] == RESULT
    assert result["stream_switch"] == "the command wrote faster than the stream could carry it"
    assert 0 < len(streamed) < len(written)
    # What was streamed and what was spilled are the output, in order, with nothing twice or missing.
    assert streamed + rest["stdout"].read_bytes() == written
    assert result["stdout"] == {"size": len(written), "streamed": len(streamed), "lost": 0,
                                "s3": {"key": "out/stdout", "size": len(written) - len(streamed)}}


def test_without_a_bucket_a_slow_stream_still_carries_everything(tmp_path: Path) -> None:
    stream = SlowStream(rate=32 * 1024 * 1024)
    rest = {"stdout": tmp_path / "rest-out", "stderr": tmp_path / "rest-err"}
    output = StreamedOutput(stream, rest, time.monotonic() + 60, can_spill=False)
    written = feed(output, 24 * 1024 * 1024)
    output.finish({"ok": True}, describe_spilled)
    records = stream.records()
    assert b"".join(payload for kind, payload in records if kind == STDOUT) == written
    assert "stream_switch" not in json.loads(records[-1][1])


def test_what_cannot_reach_the_client_before_the_deadline_is_cut_and_counted(tmp_path: Path) -> None:
    stream = SlowStream(rate=2 * 1024 * 1024)
    rest = {"stdout": tmp_path / "rest-out", "stderr": tmp_path / "rest-err"}
    output = StreamedOutput(stream, rest, time.monotonic() + 3, can_spill=False)
    written = feed(output, 12 * 1024 * 1024)
    output.finish({"ok": True}, lambda name, path, size: {"lost": size})
    records = stream.records()
    streamed = b"".join(payload for kind, payload in records if kind == STDOUT)
    result = json.loads(records[-1][1])
    assert result["stream_switch"] == "what was left to send could not reach the client before the deadline"
    assert result["stdout"]["lost"] == len(written) - len(streamed)
    assert result["truncated"] is True
    assert streamed == written[:len(streamed)]


def test_records_stay_small(tmp_path: Path) -> None:
    stream = SlowStream(rate=1e12)
    output = StreamedOutput(stream, {"stdout": tmp_path / "o", "stderr": tmp_path / "e"}, time.monotonic() + 60,
                            can_spill=False)
    output("stdout", b"x" * 300_000)
    output.finish({}, describe_spilled)
    sizes = [len(payload) for kind, payload in stream.records() if kind == STDOUT]
    assert sizes == [65536, 65536, 65536, 65536, 37856]


class CountingStream:
    """Takes bytes as fast as they come, reads the records as they arrive, and keeps only what they add up to."""

    def __init__(self) -> None:
        self.received = 0
        self.streamed = 0
        self.result: dict[str, Any] | None = None
        self._reader = RecordReader()

    def __call__(self, data: bytes) -> None:
        self.received += len(data)
        for kind, payload in self._reader.feed(data):
            if kind == STDOUT:
                self.streamed += len(payload)
            elif kind == RESULT:
                self.result = json.loads(payload)


def test_a_stream_never_passes_lambdas_200_mb_so_its_result_record_arrives(tmp_path: Path) -> None:
    """Lambda documents 200 MB for a streamed response: 200,000,000 bytes, result record included."""
    stream = CountingStream()
    rest = {"stdout": tmp_path / "rest-out", "stderr": tmp_path / "rest-err"}
    # No bucket: then only the deadline and the limit switch the stream, however the sender keeps up.
    output = StreamedOutput(stream, rest, time.monotonic() + 600, can_spill=False)
    total = 205_000_000
    piece = bytes(1024 * 1024)
    for start in range(0, total, len(piece)):
        output("stdout", piece[:min(len(piece), total - start)])
    output.finish({"ok": True}, describe_spilled)
    assert stream.result is not None
    assert stream.received <= 200_000_000
    assert stream.result["stream_switch"] == "the stream reached its limit of 200000000 bytes"
    assert stream.streamed == stream.result["stdout"]["streamed"]
    assert stream.streamed + rest["stdout"].stat().st_size == total
