"""Deploy, inspect and remove the lambdash function, its role and its spill bucket.

As in aws/chalice, deploy is split in two: ``planner`` reads what exists and
computes a ``Plan`` of plain frozen dataclasses (``models``), which can be printed
(``--dry-run``) and tested without AWS; ``executor`` then applies it through
``lambdash.aws.deploy.DeployClient``. ``package`` builds the reproducible zip of
``handler/`` and ``template`` writes the same resources as CloudFormation.
``twin`` plans a twin of another function (``deploy --like``), ``layers`` reads what
that function's layers bring, and ``reachability`` checks a twin's route to S3.
"""
