"""One module per subcommand. Each has HELP, ``configure(parser)`` and ``execute(args, terminal)``.

``lambdash.cli`` imports a command's module only when that command runs, so
``--help`` and ``--version`` stay fast and commands never import each other.
"""
