"""Reports built from what sandboxes answer: the ``inventory`` of a runtime and its
diff, the ``census`` of many invocations, and the rendering of network ``probe``
results. Each runs through the shells of ``lambdash.shell``.
"""
