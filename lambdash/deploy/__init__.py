"""Deploy, inspect and remove the lambdash function, its role and its spill bucket.

As in aws/chalice, deploy is a short chain of stages, which ``deployer`` puts in
order for the deploy, status and destroy commands:

- ``validate``: the options, checked against AWS's rules before any call;
- ``observed``: what exists, read through ``lambdash.aws.deploy.DeployClient``
  (the only module here that reads AWS), as plain frozen data;
- ``planner``: settings and observed state in, a ``Plan`` (or a ``StatusReport``)
  out, without any call; ``drift`` words each difference;
- ``executor``: applies a plan, one ``DeployClient`` call per step.

The data they pass: ``settings`` (the options, the settings derived from them, and
function references), ``documents`` (the IAM and S3 documents), ``tags`` (lambdash's
tags and the one codec of the records they carry), ``plan`` (``Plan``, ``Step``,
``StatusReport``). ``package`` builds the reproducible zip of ``handler/`` and
``template`` writes the same resources as CloudFormation. ``twin`` plans a twin of
another function (``deploy --like``) and holds a twin's checks, ``layers`` reads what
that function's layers bring, and ``reachability`` checks a twin's route to S3 with
a probe its caller runs.
"""
