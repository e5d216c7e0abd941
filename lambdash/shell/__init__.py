"""The run path: a shell on a Lambda target, and what travels through it.

``remote`` sends one command and brings back its exact bytes and status;
``targets`` opens shells on the targets the options name; ``presigned`` moves
spilled output and big stdin through the URLs the function hands out;
``filecopy`` copies files through the shell itself; ``audit`` logs each command.
Commands and the REPL stand on this; it stands on ``lambdash.aws``.
"""
