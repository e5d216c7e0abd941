"""``lambdash probe CHECK...``: network checks from inside the sandbox, all in one invocation."""

from __future__ import annotations

import argparse

from lambdash.commands.options import add_common_options, add_target_options, seconds, target_of
from lambdash.errors import UsageError
from lambdash.terminal import Terminal
from lambdash_handler.contract import DEFAULT_PROBE_TIMEOUT_SECONDS, MAX_PROBE_CHECKS

DESCRIPTION = """\
Network checks from inside the sandbox, in pure Python (the runtimes have no nc, dig,
curl or openssl), all in one invocation and run at the same time. Each ends with a
verdict, its time and a detail; a failed one gets a hint on the line under it."""

EPILOG = f"""\
checks:
  HOST:PORT                     TCP connect: open, refused, timed out, unreachable, or
                                name not resolved ([ADDRESS]:PORT for IPv6)
  dns:NAME[@SERVER[:PORT]]      a DNS query of its own (A and AAAA) to SERVER, or to the
                                resolvers in /etc/resolv.conf: the addresses, or NXDOMAIN,
                                SERVFAIL, or a timeout
  http://URL, https://URL       GET: the status, the redirects (up to 5), and the time split
                                (DNS, connect, TLS, first byte); for TLS the protocol, the
                                certificate's subject, issuer and days to expiry, and whether
                                it verifies against the runtime's trust store (if not, why)
  aws:SERVICE                   the service's regional endpoint, as boto3 picks it (it honours
                                AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL): reachable at a
                                public address, through a VPC interface endpoint, or blocked;
                                aws:sts also calls GetCallerIdentity

Each check has its own timeout (-t, default {DEFAULT_PROBE_TIMEOUT_SECONDS:g} s); at most {MAX_PROBE_CHECKS} checks.

exit status: 0 when every check passed, 1 when some failed, 255 when lambdash failed.

examples:
  lambdash -f my-twin probe db.internal:5432 dns:db.internal aws:s3 aws:sts
  lambdash probe https://api.example.com/health dns:example.com@1.1.1.1
  lambdash probe --json -t 5 10.0.1.20:443
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("checks", nargs="+", metavar="CHECK", help="what to check (see below)")
    parser.add_argument("-t", "--timeout", type=seconds, default=argparse.SUPPRESS, metavar="SECONDS",
                        help=f"how long each check may take (default: {DEFAULT_PROBE_TIMEOUT_SECONDS:g})")
    add_target_options(parser, suppress=True)
    add_common_options(parser, suppress=True)


def execute(args: argparse.Namespace, terminal: Terminal) -> int:
    """Run the checks in the target's sandbox and show them; 0 when all passed, 1 when some failed."""
    from lambdash.reports.probe import exit_status, render_table
    from lambdash.shell.targets import open_shell
    from lambdash_handler.contract.checks import BadCheck, parse_check

    if len(args.checks) > MAX_PROBE_CHECKS:
        raise UsageError(f"at most {MAX_PROBE_CHECKS} checks at once, not {len(args.checks)}")
    for check in args.checks:
        try:
            parse_check(check)
        except BadCheck as problem:
            raise UsageError(str(problem)) from None
    timeout = args.timeout or DEFAULT_PROBE_TIMEOUT_SECONDS
    target = target_of(args, terminal)
    with open_shell(target) as shell:
        document = shell.probe(list(args.checks), timeout=timeout)
    if args.json:
        terminal.write_json({**document, "target": target.label})
    else:
        terminal.stdout.write(render_table(document, color=terminal.color).encode("utf-8"))
        terminal.stdout.flush()
    return exit_status(document)
