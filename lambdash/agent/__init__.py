"""The agent: one-shots at REPL speed, as ssh's ControlPersist makes new sessions fast.

With ``LAMBDASH_AGENT=SECONDS`` (or the config file's ``agent``), the first one-shot
starts a background agent; later ones hand their request to it over a private Unix
socket and print what it streams back. The agent keeps Python, boto3 and a warm
Lambda client per target loaded, forks a worker per request that runs the very
same one-shot code with the caller's environment, cwd and streams, and leaves after
SECONDS idle.

- ``protocol``: the frames both sides speak (standard library only);
- ``directory``: the agent's private directory, its socket and its lock;
- ``client``: the thin side, in the one-shot's own process (it imports no AWS SDK);
- ``server``: the agent process, handing each request to a forked worker;
- ``relay``: a worker's standard streams, carried over the socket;
- ``warm``: the Lambda clients kept warm, one per target and caller's settings;
- ``__main__``: the agent process's entry point, which wires the one-shot in.
"""
