"""One module per subcommand, each with ``configure(parser)`` and ``execute(args, terminal)``.

``lambdash.cli`` imports a command's module only when that command runs, so
``--help`` and ``--version`` stay fast; its one-line help is in ``cli.SUBCOMMANDS``.
Commands never import each other: what several share is in ``options`` and
``deployment_options``, which are not subcommands.
"""
