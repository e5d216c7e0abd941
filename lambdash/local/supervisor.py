"""A sandbox's supervisor: the never-frozen parent of everything one local sandbox starts.

The local Lambda runs this file as a script (``python -I -S supervisor.py``), standard
library only, one per sandbox, and sends it its spec as the first line on stdin (it
holds the function's environment, so never on a command line). It

- becomes a child subreaper, so whatever the runtime starts stays below it, even a
  process that double-forks or calls setsid, and it reaps their zombies;
- gives the sandbox a private, size-limited temp dir (a tmpfs of the function's
  ephemeral storage size, in mount and user namespaces of its own) where the kernel
  allows it, as Lambda gives each execution environment its own /tmp;
- starts the runtime, with the memory limit as an address-space limit, and kills
  the whole sandbox when its processes together use more memory than the function has;
- freezes (SIGSTOP) and thaws (SIGCONT) every process below it on command, as Lambda
  freezes an execution environment between invocations;
- kills everything below it (SIGKILL reaches stopped processes too) when the local
  Lambda says so, when the runtime exits, or when the local Lambda is gone, however
  it ended: its control pipe then reads EOF, and the parent-death signal covers the
  rest. In that last case it also removes the sandbox's directory, which the local
  Lambda would otherwise remove once it has read the sandbox's log.

Control, on stdin, one byte each: ``F`` freeze, ``T`` thaw, ``K`` kill and exit.
Reports, on stdout, one line each: ``started PID``, ``tmp LIMIT`` or ``tmp none WHY``,
and at the end ``ended exit N``, ``ended signal N`` or ``ended oom RSS``.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
MNT_DETACH = 2
# How often the memory of a running sandbox is measured, and how often the list of its
# processes is read again for that (reading /proc whole costs about a millisecond).
MEMORY_POLL_SECONDS = 0.1
PROCESS_LIST_SECONDS = 1.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def parent_ids() -> dict[int, int]:
    """Every process's parent, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after its last ")" do not.
        fields = data[data.rindex(b")") + 2:].split(b" ", 2)
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every process below ``root``, parents before their children."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_ids().items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def resident_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def private_tmp(path: str, size_mb: int) -> str:
    """Mount a tmpfs of ``size_mb`` at ``path``, seen only by this process and what it starts."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        _check(_libc.unshare(CLONE_NEWNS), "unshare")
    else:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        # The same ids inside: files keep their owner, and `id` says what it said before.
        with open("/proc/self/setgroups", "w") as setgroups:
            setgroups.write("deny")
        with open("/proc/self/uid_map", "w") as uid_map:
            uid_map.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as gid_map:
            gid_map.write(f"{gid} {gid} 1")
    # Nothing mounted here may show outside.
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    options = f"size={size_mb}m,mode=0700".encode()
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount tmpfs")
    return f"{size_mb}m"


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.pid = os.getpid()
        self.runtime: subprocess.Popen[bytes] | None = None
        self.frozen: list[int] = []
        self.memory_limit = int(spec["memory_limit_bytes"])
        self.measured: list[int] = []
        self.measured_at = 0.0

    def report(self, line: str) -> None:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except OSError:  # the local Lambda is gone; the control pipe says so too
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing is left to report to

    def start(self) -> None:
        spec = self.spec
        try:
            self.report(f"tmp {private_tmp(spec['tmp'], int(spec['tmp_mb']))}")
        except (OSError, KeyError) as problem:
            self.report(f"tmp none {problem}")
        address_space = int(spec["address_space_bytes"])

        def limit_memory() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

        try:
            self.runtime = subprocess.Popen(
                spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=sys.stderr,
                stderr=sys.stderr, start_new_session=True, preexec_fn=limit_memory,
            )
        except OSError as problem:  # as Lambda says of a runtime (or exec wrapper) it cannot start
            print(f"lambdash local sandbox: cannot start {spec['argv'][0]}: {problem.strerror}", file=sys.stderr,
                  flush=True)
            self.report("ended exit 126")
            return
        self.report(f"started {self.runtime.pid}")

    def freeze(self) -> None:
        stopped: set[int] = set()
        # A process may fork while we stop its siblings: look again until nothing new turns up.
        for _ in range(10):
            fresh = [pid for pid in descendants(self.pid) if pid not in stopped]
            if not fresh:
                break
            signal_all(fresh, signal.SIGSTOP)
            stopped.update(fresh)
        self.frozen = list(stopped)

    def thaw(self) -> None:
        signal_all(self.frozen, signal.SIGCONT)
        self.frozen = []

    def kill_all(self) -> None:
        """SIGKILL everything below; orphans come to this subreaper, so look until none is left."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = descendants(self.pid)
            if not pids:
                break
            signal_all(pids, signal.SIGKILL)
            self.reap()
            time.sleep(0.005)
        self.reap()

    def reap(self) -> str | None:
        """Collect every exited child; the runtime's end, when it is among them."""
        ended = None
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return ended
            if pid == 0:
                return ended
            if self.runtime is not None and pid == self.runtime.pid:
                self.runtime.returncode = os.waitstatus_to_exitcode(status)
                code = self.runtime.returncode
                ended = f"ended signal {-code}" if code < 0 else f"ended exit {code}"

    def over_memory(self) -> int | None:
        """The sandbox's resident memory when it is over the limit (a frozen sandbox cannot grow)."""
        if self.frozen:
            return None
        now = time.monotonic()
        if now - self.measured_at > PROCESS_LIST_SECONDS:
            self.measured, self.measured_at = descendants(self.pid), now
        used = resident_bytes(self.measured)
        if used <= self.memory_limit:
            return None
        used = resident_bytes(descendants(self.pid))  # the whole sandbox, counted afresh
        return used if used > self.memory_limit else None

    def finish(self, line: str, *, orphaned: bool = False) -> None:
        self.kill_all()
        self.report(line)
        if orphaned:  # nobody else is left to clean up
            _libc.umount2(self.spec["tmp"].encode(), MNT_DETACH)  # a mount point cannot be removed
            shutil.rmtree(self.spec["dir"], ignore_errors=True)
            try:
                os.rmdir(self.spec["workdir"])  # the last sandbox out takes the local Lambda's work dir along
            except OSError:
                pass

    def run(self) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, lambda *_: None)  # wakes select; the control pipe's EOF or K decides
        self.start()
        if self.runtime is None:
            return
        control = sys.stdin.fileno()
        while True:
            ready, _, _ = select.select([control, wake_read], [], [], MEMORY_POLL_SECONDS)
            if wake_read in ready:
                received = os.read(wake_read, 4096)
                if any(byte in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT) for byte in received):
                    # The parent-death signal (or someone's kill): the local Lambda is not there to clean up.
                    self.finish("ended killed", orphaned=True)
                    return
            ended = self.reap()
            if ended:
                self.finish(ended)
                return
            if control in ready:
                commands = os.read(control, 64)
                if not commands:
                    self.finish("ended killed", orphaned=True)
                    return
                if b"K" in commands:
                    self.finish("ended killed")
                    return
                for command in commands:
                    if command == ord("F"):
                        self.freeze()
                    elif command == ord("T"):
                        self.thaw()
            used = self.over_memory()
            if used is not None:
                self.finish(f"ended oom {used}")
                return


def read_spec(control: int) -> dict[str, Any] | None:
    """The first line on the control pipe, read a byte at a time so that no control byte after it is taken."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(control, 1)
        if not byte:
            return None  # the local Lambda is gone already
        line += byte
    spec: dict[str, Any] = json.loads(line)
    return spec


def main() -> None:
    spec = read_spec(sys.stdin.fileno())
    if spec is None:
        return
    expected_parent = int(spec["parent_pid"])
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "become a subreaper")
    # The parent-death signal fires when the thread that started this process ends; the local
    # Lambda starts supervisors from one thread that lives as long as it does.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != expected_parent:  # the local Lambda died before the signal was armed
        return
    Supervisor(spec).run()


if __name__ == "__main__":
    main()
