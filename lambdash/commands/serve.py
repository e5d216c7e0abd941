"""``lambdash serve``: the local Lambda in the foreground, for any Lambda client."""

from __future__ import annotations

import argparse
import configparser
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdash.commands.options import bounded_int, bounded_seconds, seconds
from lambdash.errors import ExitStatus, LambdashError, UsageError
from lambdash.lambda_defaults import MEMORY_RANGE_MB
from lambdash.local.function import (
    DEFAULT_CONCURRENCY,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECONDS,
    ENV_UNISOLATED,
    LOCAL_EPHEMERAL_STORAGE_RANGE_MB,
    MAX_CONCURRENCY,
    MAX_IDLE_TIMEOUT_SECONDS,
    MAX_LAYERS,
    FunctionConfig,
)
from lambdash.terminal import Terminal
from lambdash_handler.contract import ENV_BUCKET, ENV_LIKE_HANDLER

if TYPE_CHECKING:
    from lambdash.local.server import LocalLambda


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the local Lambda on loopback. It speaks Lambda's Invoke API, so boto3, the AWS CLI "
        "(--endpoint-url) and `lambdash --endpoint-url` can use it. Ctrl-C stops it and every sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=bounded_int("port", 0, 65535), default=9001,
                        help="port to listen on (default: 9001; 0 picks one)")
    parser.add_argument("--name", default="lambdash", help="the function name it hosts (default: lambdash)")
    # Also a global option, so (as for deploy) its absence must not hide a value given before `serve`.
    parser.add_argument("--timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help=f"the function timeout (default: {DEFAULT_TIMEOUT_SECONDS:g})")
    memory, storage = MEMORY_RANGE_MB, LOCAL_EPHEMERAL_STORAGE_RANGE_MB
    parser.add_argument("--memory", type=bounded_int("memory", *memory, unit="MB"), default=DEFAULT_MEMORY_MB,
                        metavar="MB", help=f"the function memory size, {memory[0]} to {memory[1]}, also each "
                                           f"sandbox's memory limit (default: {DEFAULT_MEMORY_MB})")
    parser.add_argument("--concurrency", type=bounded_int("concurrency", 1, MAX_CONCURRENCY),
                        default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"at most this many sandboxes, 1 to {MAX_CONCURRENCY}; past that callers get 429 "
                             f"(default: {DEFAULT_CONCURRENCY})")
    parser.add_argument("--idle-timeout", type=bounded_seconds("the idle timeout", MAX_IDLE_TIMEOUT_SECONDS),
                        default=DEFAULT_IDLE_TIMEOUT_SECONDS, metavar="SECONDS",
                        help=f"reap a sandbox left idle this long, more than 0 and at most "
                             f"{MAX_IDLE_TIMEOUT_SECONDS:g} (default: {DEFAULT_IDLE_TIMEOUT_SECONDS:g})")
    parser.add_argument("--bucket", default=None, metavar="NAME",
                        help=f"spill bucket, set as the function's {ENV_BUCKET} (default: the bucket of the "
                             "embedded S3)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set an environment variable of the function, as its configuration does (repeatable)")
    parser.add_argument("--env-file", metavar="FILE",
                        help="set the function's environment variables from FILE: NAME=VALUE lines; blank lines "
                             "and # comments are skipped; --env wins over it")
    parser.add_argument("--no-s3", action="store_true",
                        help="no embedded S3 (and STS) on loopback for the sandboxes: output too big to return "
                             "inline is cut unless --bucket or AWS_ENDPOINT_URL_S3 says where to spill")
    parser.add_argument("--ephemeral-storage", type=bounded_int("ephemeral storage", *storage, unit="MB"),
                        default=DEFAULT_EPHEMERAL_STORAGE_MB, metavar="MB",
                        help=f"the size of each sandbox's private /tmp (its TMPDIR), {storage[0]} to {storage[1]} "
                             f"(default: {DEFAULT_EPHEMERAL_STORAGE_MB})")
    parser.add_argument("--layer", action="append", default=[], metavar="DIR",
                        help="lay DIR's content under each sandbox's /opt, read-only, as Lambda lays a layer "
                             f"(repeatable, at most {MAX_LAYERS}; a later layer's files win)")
    parser.add_argument("--pty", action="store_true",
                        help="let sandboxes open pseudo-terminals (a devpts of their own), which Lambda does not")
    parser.add_argument("--unisolated", action="store_true",
                        help="run sandboxes on the host as you, with your real / and /tmp (only TMPDIR private): for "
                             f"a kernel that refuses user namespaces; also {ENV_UNISOLATED}=1")
    parser.add_argument("--runtime", choices=("lambdash", "awslambdaric"), default="lambdash",
                        help="start the handler through its exec wrapper, whose runtime loop can stream (lambdash, "
                             "as deploy sets it up), or under AWS's awslambdaric alone (default: lambdash)")
    parser.add_argument("--stream-rate-cap", action="store_true",
                        help="stream responses past their first 6 MB at about 2 MB/s, as AWS does "
                             "(default: full speed)")
    parser.add_argument("--access-key-id", metavar="ID",
                        help="accept only requests signed with this access key id (with --secret-access-key); "
                             "default: a pair kept for this host and port in the state dir")
    parser.add_argument("--secret-access-key", metavar="KEY", help="the secret of --access-key-id")
    parser.add_argument("--code", metavar="DIR", type=Path,
                        help="put the files of DIR at the task root beside lambdash's handler, as your function's "
                             "zip has them, so the REPL's :py can import them")
    parser.add_argument("--code-handler", metavar="MODULE.FUNCTION",
                        help="your function's Handler setting, which :py names (with --code)")
    parser.add_argument("--quiet", action="store_true", help="do not print each invocation's log")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the local Lambda in the foreground until Ctrl-C, SIGTERM or SIGHUP."""
    if (args.access_key_id is None) != (args.secret_access_key is None):
        raise UsageError("--access-key-id and --secret-access-key go together; give both, or neither")
    config = function_config(args)
    local = start_listening(args, config, terminal)
    how = set_credential_pair(local, args)
    warn_of_exposure(config, args.host, local.port, terminal)
    serve_until_stopped(local, how, terminal)
    return ExitStatus.OK


def function_config(args: argparse.Namespace) -> FunctionConfig:
    """The hosted function's configuration from the options; UsageError for options that do not go together."""
    environment = function_environment(args)
    if args.bucket:
        environment[ENV_BUCKET] = args.bucket
    task_root = None
    if args.code is not None:
        from lambdash.local.code import stage_code_task_root

        task_root = stage_code_task_root(args.code)
        if args.code_handler:
            environment[ENV_LIKE_HANDLER] = args.code_handler
    elif args.code_handler:
        raise UsageError("--code-handler names the handler of --code DIR; give --code too")
    config = FunctionConfig(
        name=args.name, timeout=args.timeout or DEFAULT_TIMEOUT_SECONDS, memory_mb=args.memory,
        concurrency=args.concurrency, idle_timeout=args.idle_timeout, ephemeral_storage_mb=args.ephemeral_storage,
        environment=environment, runtime=args.runtime, layers=layer_directories(args.layer), pty=args.pty,
        task_root=task_root,
    )
    if args.unisolated:
        config = replace(config, isolated=False)
    if not config.isolated and (config.layers or config.pty):
        raise UsageError(f"--layer and --pty need the isolated sandbox: leave out --unisolated ({ENV_UNISOLATED})")
    return config


def start_listening(args: argparse.Namespace, config: FunctionConfig, terminal: Terminal) -> LocalLambda:
    """The local Lambda listening on --host and --port; each invocation's log (unless --quiet) goes to stderr."""
    from lambdash.local.server import LocalLambda

    lock = threading.Lock()

    def show(outcome: Any) -> None:
        if args.quiet:
            return
        with lock:
            terminal.stderr.write(outcome.log)
            terminal.stderr.flush()

    def warn(text: str) -> None:
        with lock:
            terminal.warning(text)

    try:
        return LocalLambda(config, host=args.host, port=args.port, cap_stream_rate=args.stream_rate_cap,
                           embedded_s3=not args.no_s3, on_invoke=show, on_notice=warn)
    except OSError as problem:
        raise LambdashError(f"cannot listen on {args.host}:{args.port}: {problem.strerror}") from None


def set_credential_pair(local: LocalLambda, args: argparse.Namespace) -> str:
    """Give the local Lambda the one pair it accepts: the pair given, else one kept for its host and port.

    Returns how the AWS CLI signs with that pair: the start of the command serve suggests.
    """
    from lambdash.local.credentials import CredentialPair, credentials_path, profile_name

    if args.access_key_id:
        local.credentials = CredentialPair(args.access_key_id, args.secret_access_key)
        return "AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... (the pair given) aws"
    try:
        local.keep_credentials()
    except (OSError, configparser.Error) as problem:
        local.close()
        reason = getattr(problem, "strerror", None) or str(problem).splitlines()[0]
        raise LambdashError(f"cannot keep the credential pair in {credentials_path()}: {reason}") from None
    return f"AWS_SHARED_CREDENTIALS_FILE={credentials_path()} aws --profile {profile_name(args.host, local.port)}"


def warn_of_exposure(config: FunctionConfig, host: str, port: int, terminal: Terminal) -> None:
    """Warn when commands run on the host itself, and when anyone beyond loopback may reach them."""
    from lambdash.local.http import is_loopback_address

    if not config.isolated:
        terminal.warning("sandboxes run unisolated, on the host as you: commands read and write your real /, /tmp "
                         "and home; only TMPDIR is private")
    if not is_loopback_address(host) and host != "localhost":
        terminal.warning(
            f"listening on {host}, beyond loopback: anyone who can reach port {port} and holds the "
            "credential pair runs shell commands as you, and commands and their output cross the network "
            "unencrypted (prefer 127.0.0.1 and an SSH tunnel)"
        )


def serve_until_stopped(local: LocalLambda, how: str, terminal: Terminal) -> None:
    """Say where the local Lambda answers and how to call it, then serve until Ctrl-C, SIGTERM or SIGHUP.

    Leaving kills every sandbox. ``how`` is how the AWS CLI signs with the pair it accepts.
    """
    config = local.config
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    with local:
        terminal.message(
            f"lambdash: local Lambda serving function {config.name!r} at {local.endpoint_url} "
            f"(timeout {config.timeout:g} s, {config.memory_mb} MB, up to {config.concurrency} sandboxes); "
            "it answers only requests signed with its credential pair"
        )
        terminal.message(f"lambdash: try: lambdash --endpoint-url {local.endpoint_url} uname -a")
        terminal.message(
            f"lambdash: AWS CLI: {how} --region {config.region} --endpoint-url {local.endpoint_url} lambda invoke "
            f"""--function-name {config.name} --payload '{{"v": 1, "command": "uname -a"}}' out.json """
            "(version 2 also wants --cli-binary-format raw-in-base64-out)"
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        terminal.message("lambdash: stopping; every sandbox is killed")


def layer_directories(given: list[str]) -> tuple[Path, ...]:
    """The --layer directories, absolute; UsageError for one that is not a directory, or too many."""
    if len(given) > MAX_LAYERS:
        raise UsageError(f"--layer: at most {MAX_LAYERS} layers, as on Lambda ({len(given)} given)")
    layers = []
    for text in given:
        path = Path(text).expanduser().absolute()
        if not path.is_dir():
            raise UsageError(f"--layer {text}: not a directory")
        layers.append(path)
    return tuple(layers)


def function_environment(args: argparse.Namespace) -> dict[str, str]:
    """The function's variables: --env-file's, then each --env (the later wins)."""
    assignments: list[tuple[str, str]] = []
    if args.env_file:
        try:
            lines = Path(args.env_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as problem:
            reason = getattr(problem, "strerror", None) or problem
            raise UsageError(f"cannot read --env-file {args.env_file}: {reason}") from None
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                assignments.append(_assignment(line, f"{args.env_file}:{number}"))
    assignments += [_assignment(text, "--env") for text in args.env]
    return dict(assignments)


def _assignment(text: str, where: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name or not (name.replace("_", "a").isalnum() and not name[0].isdigit()):
        raise UsageError(f"{where}: expected NAME=VALUE, not {text!r}")
    return name, value
