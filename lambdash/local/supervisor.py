"""A sandbox's supervisor: the never-frozen parent of everything one local sandbox starts.

The local Lambda runs this file as a script (``python -I -S supervisor.py DIR``, DIR
the sandbox's directory), standard library only, one per sandbox, and hands it the
sandbox's spec (the runtime's command and environment, which hold the function's
secrets) through its control pipe, never its command line, which every user of the
machine can read.
It

- becomes a child subreaper, so whatever the runtime starts stays below it, even a
  process that double-forks or calls setsid, and it reaps their zombies;
- starts the runtime in user and mount namespaces of its own, shaped like Lambda's
  execution environment: the host's / read-only, a private tmpfs of the function's
  ephemeral storage size at /tmp, the function's code read-only at /var/task and its
  layers at /opt, no /dev/shm, no pseudo-terminal (unless asked for), and an
  unprivileged uid (Lambda's 993) that cannot regain the capabilities that built it;
  the supervisor itself stays outside, in the host's namespaces. A sandbox the local
  Lambda was told to run unisolated runs on the host, with only its temp dir private;
- starts the runtime with the memory limit as an address-space limit, and kills
  the whole sandbox when its processes together use more memory than the function has,
  counted as a cgroup (and so Lambda) counts it: each page once, however many
  processes share it (their proportional set sizes, PSS, summed);
- freezes (SIGSTOP) and thaws (SIGCONT) every process below it on command, as Lambda
  freezes an execution environment between invocations;
- kills everything below it (SIGKILL reaches stopped processes too) when the local
  Lambda says so, when the runtime exits, or when the local Lambda is gone, however
  it ended: its control pipe then reads EOF, and the parent-death signal covers the
  rest. In that last case it also removes the sandbox's directory, which the local
  Lambda would otherwise remove once it has read the sandbox's log. Killed itself
  (SIGKILL), it takes the runtime along (its parent-death signal), and the local
  Lambda kills the rest by the sandbox's marker and mount namespace.

Control, on stdin: first the spec (its length in bytes in decimal, a newline, then that
many bytes of JSON), then one byte each: ``F`` freeze, ``T`` thaw, ``K`` kill and exit.
Reports, on stdout, one line each: ``namespace NS`` (the runtime's mount namespace),
``started PID``, and at the end ``ended exit N``, ``ended signal N``, ``ended oom BYTES``
or ``ended failed WHY`` (the sandbox could not be built).

``supervisor.py --check`` instead says whether this kernel lets a sandbox have its
namespaces: it prints nothing and exits 0 when it does, else one line saying why.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterable
from typing import Any, NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
# mount_setattr (Linux 5.12) has the same number on every architecture; pivot_root has no glibc
# wrapper, and a number per architecture.
SYS_MOUNT_SETATTR = 442
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217,
                  "i686": 217, "armv7l": 218}
# Lambda runs a function's code as sbx_user1051: uid 993, gid 990.
SANDBOX_UID, SANDBOX_GID = 993, 990
# The spec's length is a decimal number of at most this many digits.
SPEC_LENGTH_DIGITS = 12
# How often the memory of a running sandbox is measured, and how often the list of its
# processes is read again for that (reading /proc whole costs about a millisecond).
MEMORY_POLL_SECONDS = 0.1
PROCESS_LIST_SECONDS = 1.0
# A measure of a sandbox of thousands of processes takes a while (about 0.1 ms a process for
# PSS): the next one waits this many times as long, so the supervisor never spends more than a
# sixth of a CPU counting.
MEASURE_PAUSE_RATIO = 5
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


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
    """The processes' resident sizes summed: a page shared by n of them counts n times (cheap, an upper bound)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


def proportional_bytes(pids: list[int]) -> int:
    """The processes' proportional set sizes summed: each page shared by n processes counts 1/n in each.

    A process whose smaps_rollup cannot be read (a set-uid program, a kernel before
    4.14) counts its resident size.
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
                data = rollup.read()
            start = data.index(b"\nPss:") + len(b"\nPss:")
            total += int(data[start:data.index(b"kB", start)]) * 1024
        except (OSError, ValueError):
            total += resident_bytes([pid])
    return total


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def private_tmp(path: str, size_mb: int) -> None:
    """Mount a tmpfs of ``size_mb`` at ``path``, seen only by this process and what it starts (unisolated)."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        _check(_libc.unshare(CLONE_NEWNS), "unshare")
    else:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        # The same ids inside: files keep their owner, and `id` says what it said before.
        write_file("/proc/self/setgroups", "deny")
        write_file("/proc/self/uid_map", f"{uid} {uid} 1")
        write_file("/proc/self/gid_map", f"{gid} {gid} 1")
    # Nothing mounted here may show outside.
    mount(None, "/", flags=MS_REC | MS_PRIVATE)
    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=0700")


# --- the sandbox's namespaces ------------------------------------------------------------------------------------


class MountAttributes(ctypes.Structure):
    """struct mount_attr, as mount_setattr(2) takes it."""

    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def write_file(path: str, text: str) -> None:
    try:
        with open(path, "w") as file:
            file.write(text)
    except OSError as problem:
        raise OSError(problem.errno, f"write {path}: {problem.strerror}") from None


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          options: str | None = None) -> None:
    _check(_libc.mount(_encoded(source), target.encode(), _encoded(fstype), flags, _encoded(options)),
           f"mount {target}")


def set_mount_attributes(path: str, *, add: int = 0, remove: int = 0, recursive: bool = True) -> None:
    """Set (or clear) mount attributes of the mount at ``path``, and of every mount below it when ``recursive``."""
    attributes = MountAttributes(attr_set=add, attr_clr=remove)
    _check(_libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(path.encode()),
                         ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attributes),
                         ctypes.c_size_t(ctypes.sizeof(attributes))),
           f"set the attributes of {path}")


def pivot_root_number() -> int:
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root: no system call number known for {os.uname().machine}")
    return number


def pivot_into(root: str) -> None:
    """Make ``root`` this mount namespace's root, and detach the host's: nothing outside it stays reachable."""
    number = pivot_root_number()
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root on the new one, so the new one needs no directory to put it in.
    _check(_libc.syscall(ctypes.c_long(number), ctypes.c_char_p(b"."), ctypes.c_char_p(b".")), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")


def enterable(directory: str) -> bool:
    """Whether the sandbox's uid (with its gid and no other group) may enter ``directory`` of the host."""
    status = os.stat(directory)
    if status.st_uid == SANDBOX_UID:
        return bool(status.st_mode & stat.S_IXUSR)
    if status.st_gid == SANDBOX_GID:
        return bool(status.st_mode & stat.S_IXGRP)
    return bool(status.st_mode & stat.S_IXOTH)


class SandboxTree:
    """The sandbox's file system while it is built: the host's / bound at ``root``, mounts laid over it.

    Nothing here writes to the host: a mount point the host lacks (/var/task) is made in
    a copy of its parent, a tmpfs holding a bind of each of the host directory's entries;
    a tmpfs holding only the way down covers a directory the sandbox's uid may not enter.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        # The sandbox's paths that are directories of its own (tmpfs, or made in one), where new entries may go.
        self.own: set[str] = set()

    def at(self, path: str) -> str:
        return self.root + path

    def lay_out(self, source: str, path: str) -> None:
        """The host directory ``source``'s entries at ``path``, in a directory anyone may enter.

        As Lambda unpacks a function's code at /var/task and a layer at /opt: the
        files keep their modes, the directory they land in is 0755 whatever the
        host's ``source`` is (a temporary directory is 0700).
        """
        self.mount_point(path)
        self.copy_directory(path, source=source, mode=0o755)

    def overlay(self, lower: list[str], path: str) -> None:
        """The directories ``lower`` merged at ``path``, read-only, a later one's files over an earlier one's."""
        for directory in lower:
            if ":" in directory or "," in directory:
                raise OSError(errno.EINVAL, f"cannot merge {directory} under {path}: its name holds ':' or ','")
        self.mount_point(path)
        # The merged directory takes its mode from the topmost layer: an empty tmpfs, 0755, tops them all.
        mount("tmpfs", self.at(path), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4k")
        mount("overlay", self.at(path), "overlay", 0, "lowerdir=" + ":".join([self.at(path), *reversed(lower)]))

    def mount_point(self, path: str) -> None:
        """Make the directory ``path`` exist in the sandbox."""
        if os.path.lexists(self.at(path)):
            return
        parent = os.path.dirname(path)
        if parent == "/":
            raise OSError(errno.ENOENT, f"cannot make {path} in the sandbox: the host has no {path}")
        if os.path.islink(self.at(parent)):  # it would lead out of the sandbox's tree, to the host's
            raise OSError(errno.ELOOP, f"cannot make {path} in the sandbox: the host's {parent} is a symbolic link")
        self.mount_point(parent)
        if parent not in self.own:
            self.copy_directory(parent)
        os.mkdir(self.at(path), 0o755)
        self.own.add(path)

    def copy_directory(self, path: str, *, source: str | None = None, mode: int | None = None) -> None:
        """Lay a tmpfs over ``path`` holding what the host's ``path`` (or ``source``) holds: links made again, the
        rest bound; its mode is the host directory's, or ``mode``."""
        source = source or path
        mode = os.stat(source).st_mode & 0o7777 if mode is None else mode
        mount("tmpfs", self.at(path), "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode:o},size=1m")
        self.own.add(path)
        with os.scandir(source) as entries:
            for entry in entries:
                copy = self.at(os.path.join(path, entry.name))
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), copy)
                elif entry.is_dir(follow_symlinks=False):
                    os.mkdir(copy)
                    mount(entry.path, copy, flags=MS_BIND | MS_REC)
                else:
                    os.close(os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                    mount(entry.path, copy, flags=MS_BIND)

    def expose(self, path: str) -> None:
        """Let the sandbox's uid reach the host's directory ``path`` below directories it may not enter.

        The first such directory becomes a tmpfs holding only the way to ``path``, so the
        runtime's interpreter (a Python under /root, say) runs and nothing else there shows.
        """
        parts = path.strip("/").split("/")
        ancestors = ["/" + "/".join(parts[:count]) for count in range(1, len(parts))]
        blocked = next((directory for directory in ancestors if not enterable(directory)), None)
        if blocked is None:
            return
        if blocked not in self.own:
            mount("tmpfs", self.at(blocked), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            self.own.add(blocked)
        self.reveal(path)

    def reveal(self, path: str) -> None:
        """Show the host's directory ``path`` at its place below a directory of the sandbox's own (a tmpfs).

        The directories on the way are made (0755); ``path`` is laid out in one of its own.
        """
        parts = path.strip("/").split("/")
        for count in range(1, len(parts)):
            directory = "/" + "/".join(parts[:count])
            if directory not in self.own and not os.path.lexists(self.at(directory)):
                os.mkdir(self.at(directory), 0o755)
                self.own.add(directory)
        self.lay_out(path, path)

    def private_tmp(self, size_mb: int) -> None:
        """/tmp: a tmpfs of ``size_mb`` the sandbox's uid owns, as Lambda's."""
        mount("tmpfs", self.at("/tmp"), "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={size_mb}m,mode=0700,uid={SANDBOX_UID},gid={SANDBOX_GID}")
        self.own.add("/tmp")

    def hide_shared_memory_and_terminals(self, *, pseudo_terminals: bool) -> None:
        """No /dev/shm to write to, and (unless asked for) no pseudo-terminal to open, as on Lambda."""
        empty = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
        if os.path.isdir(self.at("/dev/shm")):
            mount("tmpfs", self.at("/dev/shm"), "tmpfs", empty, "size=4k")
        if pseudo_terminals:
            return
        if os.path.isdir(self.at("/dev/pts")):
            mount("tmpfs", self.at("/dev/pts"), "tmpfs", empty, "size=4k")
        ptmx = self.at("/dev/ptmx")
        if os.path.exists(ptmx) and not os.path.islink(ptmx):  # a link to pts/ptmx already leads nowhere
            mount("/dev/null", ptmx, flags=MS_BIND)

    def give_pseudo_terminals(self) -> None:
        """A devpts of the sandbox's own at /dev/pts, opened through /dev/ptmx by anyone."""
        mount("devpts", self.at("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
        if not os.path.islink(self.at("/dev/ptmx")):
            mount(self.at("/dev/pts/ptmx"), self.at("/dev/ptmx"), flags=MS_BIND)


def outermost(paths: Iterable[str]) -> list[str]:
    """The paths that are not below another of them, sorted."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(path)
    return kept


def enter_sandbox(isolation: dict[str, Any], *, root_mapped: bool, caller_is_root: bool) -> None:
    """Build the sandbox's file system in this process's new mount namespace, and move into it.

    Runs in the runtime's process before it becomes the runtime, with every capability
    in its new user namespace. ``root_mapped`` when uid 0 is mapped in it to the host's
    root (the local Lambda runs as root): the sandbox's uid is then not the caller's, and
    may need the way to the runtime's interpreter opened.
    """
    tree = SandboxTree(isolation["root"])
    mount(None, "/", flags=MS_REC | MS_PRIVATE)  # nothing mounted here may show outside
    mount("/", tree.root, flags=MS_BIND | MS_REC)
    # The runtime's own directories (its interpreter's), where the sandbox would not see them: under
    # directories its uid may not enter, or under /tmp, which becomes its own.
    runtime = outermost(os.path.realpath(path) for path in isolation["expose"])
    in_tmp = [path for path in runtime if path.startswith("/tmp/")]
    if root_mapped:
        for path in runtime:
            if path not in in_tmp:
                tree.expose(path)
    tree.lay_out(isolation["task_root"], "/var/task")
    layers = isolation["layers"]
    if len(layers) == 1:
        tree.lay_out(layers[0], "/opt")
    elif layers:
        tree.overlay(layers, "/opt")
    tree.hide_shared_memory_and_terminals(pseudo_terminals=isolation["pty"])
    read_only = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
    set_mount_attributes(tree.root, add=read_only)
    if root_mapped or not caller_is_root:
        # A process may write its own /proc files, as on Lambda. Not where the sandbox's uid is the caller and
        # the caller is root (of a user namespace that could not map 993): the host's root writes sysctls there.
        set_mount_attributes(tree.at("/proc"), remove=MOUNT_ATTR_RDONLY, recursive=False)
    tree.private_tmp(int(isolation["tmp_mb"]))
    for path in in_tmp:
        tree.reveal(path)
        set_mount_attributes(tree.at(path), add=read_only)
    if isolation["pty"]:
        tree.give_pseudo_terminals()
    pivot_into(tree.root)
    if root_mapped:  # drop from the namespace's root to the sandbox's uid: every capability goes with it
        os.setgroups([])
        os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    # Nothing run from here on may gain a privilege: no set-uid program, no file capability.
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")


def map_sandbox_ids(pid: int) -> bool:
    """Map the sandbox's uid and gid in the new user namespace of process ``pid``; True when uid 0 is mapped too.

    Where the supervisor may (root), uid 0 is the host's root, so the host's files show
    their owners, and the sandbox's uid 993 is the host's 993: its processes belong to no
    one who owns anything on the host. Elsewhere the kernel lets a user map only their own
    uid: the sandbox's uid 993 is the caller, and the rest shows as nobody.
    """
    if os.geteuid() == 0:
        try:
            write_file(f"/proc/{pid}/uid_map", f"0 0 1\n{SANDBOX_UID} {SANDBOX_UID} 1\n")
        except OSError:  # root of a user namespace where 993 is not mapped: as any user
            pass
        else:
            write_file(f"/proc/{pid}/gid_map", f"0 0 1\n{SANDBOX_GID} {SANDBOX_GID} 1\n")
            return True
    write_file(f"/proc/{pid}/setgroups", "deny")
    write_file(f"/proc/{pid}/uid_map", f"{SANDBOX_UID} {os.geteuid()} 1\n")
    write_file(f"/proc/{pid}/gid_map", f"{SANDBOX_GID} {os.getegid()} 1\n")
    return False


def check_namespaces() -> str | None:
    """Why this kernel will not give a sandbox its namespaces, or None when it will.

    It enters new ones itself, as a sandbox's runtime does: run it in a process of its own.
    """
    try:
        pivot_root_number()
        uid, gid = os.geteuid(), os.getegid()
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        write_file("/proc/self/setgroups", "deny")
        write_file("/proc/self/uid_map", f"{SANDBOX_UID} {uid} 1\n")
        write_file("/proc/self/gid_map", f"{SANDBOX_GID} {gid} 1\n")
        mount(None, "/", flags=MS_REC | MS_PRIVATE)
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k")
        set_mount_attributes("/tmp", add=MOUNT_ATTR_RDONLY)
    except OSError as problem:
        return describe(problem)
    return None


def become_runtime(spec: dict[str, Any], supervisor: int, status: int, go_ahead: int) -> NoReturn:
    """In the forked child: enter the sandbox (or not), then exec the runtime. Never returns.

    Says on ``status``: ``M`` once its user namespace wants its ids mapped (the supervisor
    answers on ``go_ahead``: ``R`` with uid 0 mapped, ``U`` without, ``X`` failed), ``F WHY``
    when the sandbox could not be built, ``E WHY`` when the runtime could not be executed.
    Both pipes close on exec: EOF with nothing said means the runtime runs.
    """
    try:
        signal.set_wakeup_fd(-1)  # the supervisor's signals are its own
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.setsid()
        isolation = spec.get("isolation")
        if isolation is not None:
            caller_is_root = os.geteuid() == 0
            _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
            os.write(status, b"M")
            answer = os.read(go_ahead, 1)
            if answer not in (b"R", b"U"):
                os._exit(1)  # the supervisor could not map the ids, and says so
            enter_sandbox(isolation, root_mapped=answer == b"R", caller_is_root=caller_is_root)
        elif spec.get("tmp"):
            try:
                private_tmp(spec["tmp"], int(spec["tmp_mb"]))
            except OSError:
                pass  # unisolated, as asked: the temp dir is a plain directory then
        address_space = int(spec["address_space_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        # A supervisor killed outright cannot kill its sandbox: the runtime goes with it at once, and the
        # local Lambda, seeing the supervisor gone, sweeps up what the runtime left. (Set last: a change of
        # uid clears it.)
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "set the parent-death signal")
        if os.getppid() != supervisor:
            os._exit(1)
        os.chdir(spec["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(2, 1)  # the runtime's output goes to the sandbox's log, never to the supervisor's reports
    except BaseException as problem:  # whatever it is, it must reach the supervisor, never unwind the fork
        os.write(status, b"F" + describe(problem).encode("utf-8", "replace"))
        os._exit(1)
    try:
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except BaseException as problem:
        reason = getattr(problem, "strerror", None) or str(problem)
        os.write(status, b"E" + reason.encode("utf-8", "replace"))
    os._exit(126)


def describe(problem: BaseException) -> str:
    """A failure in one line: what failed and why, and on which file when it names one."""
    if isinstance(problem, OSError) and problem.strerror:
        return f"{problem.filename}: {problem.strerror}" if problem.filename else problem.strerror
    return str(problem) or type(problem).__name__


class Supervisor:
    def __init__(self, spec: dict[str, Any], directory: str) -> None:
        self.spec = spec
        self.directory = directory
        self.pid = os.getpid()
        self.runtime: int | None = None  # the runtime's pid
        self.frozen: list[int] = []
        self.memory_limit = int(spec["memory_limit_bytes"])
        self.measured: list[int] = []
        self.measured_at = 0.0
        self.next_measure = 0.0

    def report(self, line: str) -> None:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except OSError:  # the local Lambda is gone; the control pipe says so too
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing is left to report to

    def start(self) -> None:
        """Fork the runtime's process, map its ids when it asks, and wait until it runs (or says why not)."""
        status_read, status_write = os.pipe()
        go_read, go_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(status_read)
            os.close(go_write)
            become_runtime(self.spec, self.pid, status_write, go_read)
        os.close(status_write)
        os.close(go_read)
        said = b""
        try:
            while chunk := os.read(status_read, 4096):
                said += chunk
                if said.startswith(b"M"):
                    said = said[1:]
                    try:
                        answer = b"R" if map_sandbox_ids(pid) else b"U"
                    except OSError as problem:
                        said, answer = b"F" + f"map the sandbox's uid: {problem.strerror}".encode(), b"X"
                    os.write(go_write, answer)
        finally:
            os.close(status_read)
            os.close(go_write)
        if said:
            os.waitpid(pid, 0)
            reason = said[1:].decode("utf-8", "replace")
            if said.startswith(b"E"):  # as Lambda says of a runtime (or exec wrapper) it cannot start
                self.log(f"cannot start {self.spec['argv'][0]}: {reason}")
                self.report("ended exit 126")
            else:
                self.log(f"cannot build the sandbox: {reason}")
                self.report(f"ended failed {reason}")
            return
        self.runtime = pid
        try:
            self.report(f"namespace {os.readlink(f'/proc/{pid}/ns/mnt')}")
        except OSError:
            pass  # it is gone already; reaping it says so
        self.report(f"started {pid}")

    def log(self, message: str) -> None:
        print(f"lambdash local sandbox: {message}", file=sys.stderr, flush=True)

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
            if pid == self.runtime:
                code = os.waitstatus_to_exitcode(status)
                ended = f"ended signal {-code}" if code < 0 else f"ended exit {code}"

    def over_memory(self) -> int | None:
        """The sandbox's memory (PSS) when it is over the limit (a frozen sandbox cannot grow)."""
        now = time.monotonic()
        if self.frozen or now < self.next_measure:
            return None
        began = time.perf_counter()
        if now - self.measured_at > PROCESS_LIST_SECONDS:
            self.measured, self.measured_at = descendants(self.pid), now
        used: int | None = None
        # The resident sizes are an upper bound of PSS, and cheaper to read: under the limit, that is enough.
        if resident_bytes(self.measured) > self.memory_limit:
            used = proportional_bytes(descendants(self.pid))  # the whole sandbox, counted afresh
            if used <= self.memory_limit:
                used = None
        self.next_measure = now + max(MEMORY_POLL_SECONDS, (time.perf_counter() - began) * MEASURE_PAUSE_RATIO)
        return used

    def finish(self, line: str, *, orphaned: bool = False) -> None:
        self.kill_all()
        self.report(line)
        if orphaned:  # nobody else is left to clean up
            shutil.rmtree(self.directory, ignore_errors=True)
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
    """The spec from the control pipe; None when the local Lambda went before it was all written.

    Read exactly, a byte at a time up to the newline, so no control byte after it is taken.
    """
    header = b""
    while not header.endswith(b"\n"):
        byte = os.read(control, 1)
        if not byte or len(header) > SPEC_LENGTH_DIGITS:
            return None
        header += byte
    remaining = int(header)
    data = bytearray()
    while remaining:
        chunk = os.read(control, remaining)
        if not chunk:
            return None
        data += chunk
        remaining -= len(chunk)
    spec: dict[str, Any] = json.loads(data)
    return spec


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        reason = check_namespaces()
        if reason:
            print(reason, flush=True)
            sys.exit(1)
        return
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "become a subreaper")
    # The parent-death signal fires when the thread that started this process ends; the local
    # Lambda starts supervisors from one thread that lives as long as it does.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    spec = read_spec(sys.stdin.fileno())
    if spec is None or os.getppid() != int(spec["parent_pid"]):  # the local Lambda died before it was armed
        return
    Supervisor(spec, sys.argv[1]).run()


if __name__ == "__main__":
    main()
