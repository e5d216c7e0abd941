"""``lambdash status``: the deployed function, its role and bucket, and any drift.

Drift is whatever ``lambdash deploy`` would change now: a setting changed in the
console, a policy added to the role, or code that differs from this checkout's.
For a twin (``deploy --like FUNCTION``) it also shows what changed in FUNCTION since
the twin was made, which ``deploy --like`` would follow.
"""

from __future__ import annotations

import argparse

from lambdash.commands.deployment_options import (
    add_deployment_options,
    add_twin_of_option,
    deployment_client,
    handler_directory,
    original_reference,
)
from lambdash.commands.options import add_common_options
from lambdash.deploy.plan import StatusReport
from lambdash.terminal import Terminal
from lambdash_handler.contract import ENV_EXEC_WRAPPER


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show the function's state, runtime, architecture, memory, timeout, last change, code\n"
        "hash, bucket and role, and its drift: what `lambdash deploy` would change now (settings\n"
        "changed outside lambdash, or code that differs from this lambdash's handler).\n"
        "For a twin (`lambdash deploy --like FUNCTION`), also what changed in FUNCTION since the\n"
        "twin was made: memory, timeout, architecture, /tmp, layers, VPC, file systems, runtime\n"
        "family, and the environment's names and KMS key when copied.\n"
        "Exit status 0, drift or not; 255 when the function does not exist."
    )
    add_deployment_options(parser)
    add_twin_of_option(parser, "show")
    parser.add_argument("--handler-dir", metavar="DIR", default=None,
                        help="compare the code with this handler directory instead of the installed one")
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    from lambdash.deploy.deployer import inspect_status

    client = deployment_client(args, terminal)
    report = inspect_status(client, client.target.function, original_reference(args),
                            handler_dir=handler_directory(args))
    if args.json:
        terminal.write_json(report.to_dict())
    else:
        terminal.write_lines(render_status(report))
    return 0


def streaming_state(report: StatusReport) -> str:
    """Whether the function streams output (its exec wrapper is set), and whether that is as deployed."""
    on = ENV_EXEC_WRAPPER in report.function.environment
    state = ("on (AWS_LAMBDA_EXEC_WRAPPER starts the handler's streaming runtime loop)" if on
             else "off (buffered answers only)")
    if on != report.settings.stream:
        state += f"; deployed {'on' if report.settings.stream else 'off'}: drift"
    return state


def sessions_state(report: StatusReport) -> str:
    """Whether the function can open sessions (lambdash -i, :i, :py): the role it hands out credentials of."""
    role = report.to_dict()["session_role"]
    if role is None:
        settings = report.settings
        if settings.execution_role_arn is not None:
            original = (settings.twin_of or "its function").rsplit(":", 1)[-1]
            return (f"none: the twin runs with the role of {original} (--with-role), which lambdash never changes; "
                    "a twin made without --with-role can open sessions")
        return "not set up: `lambdash deploy` sets them up"
    return f"role {role.rsplit('/', 1)[-1]} (send-only credentials, one queue per session)"


def render_status(report: StatusReport) -> list[str]:
    """Aligned ``label  value`` lines, then the drift."""
    document = report.to_dict()
    code = document["code_sha256"] + ("  (same as this lambdash's handler)" if document["code_current"]
                                      else f"  (this lambdash's handler: {report.local_code_sha256})")
    if document["code_of"]:
        code = (f"{document['code_sha256']}  (lambdash's handler with the code of its function, sha256 "
                f"{document['code_of']}" + (f"; handler {document['code_handler']})" if document["code_handler"]
                                            else ")"))
    rows = [
        ("function", f"{report.function.name}  {report.function.arn}"),
        ("state", f"{report.function.state or '?'} (last update: {report.function.last_update_status or '?'})"),
        ("runtime", report.function.runtime or "?"),
        ("architecture", report.function.architecture),
        ("memory", f"{report.function.memory_mb} MB"),
        ("timeout", f"{report.function.timeout_seconds} s"),
        ("/tmp", f"{report.function.ephemeral_storage_mb} MB"),
        ("last modified", report.function.last_modified or "?"),
        ("code sha256", code),
        ("bucket", f"{document['bucket']} (prefix {document['prefix']}/)" if document["bucket"] else "(none)"),
        ("role", report.function.role_arn),
        ("streaming", streaming_state(report)),
        ("sessions", sessions_state(report)),
    ]
    if report.function.subnet_ids:
        rows.append(("vpc", f"subnets {', '.join(report.function.subnet_ids)}; "
                            f"security groups {', '.join(report.function.security_group_ids)}"
                            + ("; IPv6 dual stack on" if report.function.ipv6_dual_stack else "")))
    if report.function.layers:
        rows.append(("layers", ", ".join(report.function.layers)))
    rows.extend(("file system", f"{system.arn} at {system.mount_path}") for system in report.function.file_systems)
    if report.function.twin_of is not None:
        rows.append(("twin of", report.function.twin_of))
    lines = [f"{label:<14}{value}" for label, value in rows]
    if report.drift:
        lines.append("drift         what `lambdash deploy` would change:")
        lines.extend(f"  - {item}" for item in report.drift)
    else:
        lines.append("drift         none")
    if report.function.twin_of is not None:
        lines.extend(render_twin_drift(report))
    return lines


def render_twin_drift(report: StatusReport) -> list[str]:
    """What changed in a twin's original since the twin was made."""
    from lambdash.deploy.twin import redeploy_command

    if report.twin_drift_error is not None:
        return [f"like drift    unknown: cannot read the function it is like: {report.twin_drift_error}"]
    if not report.twin_drift:
        return ["like drift    none: the twin still matches the function it is like"]
    command = redeploy_command(report.function.name, report.function.twin_of or "")
    return [f"like drift    what changed in the function since the twin was made (`{command}` follows it):",
            *(f"  - {item}" for item in report.twin_drift)]
