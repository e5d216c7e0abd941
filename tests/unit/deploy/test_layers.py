"""What a layer's listing says it brings into the twin. No I/O."""

from __future__ import annotations

from lambdash.deploy.layers import layer_findings


def test_the_layer_findings_name_extensions_and_shadowed_packages() -> None:
    assert layer_findings(["extensions/", "extensions/collector", "extensions/lib/helper.so"]) == [
        "brings an extension (/opt/extensions/collector): it starts in the twin's sandboxes too, and may need "
        "the function's environment (--with-env)"]
    assert layer_findings(["python/lib/python3.12/site-packages/botocore/__init__.py", "python/six.py"]) == [
        "brings botocore (/opt/python/lib/python3.12/site-packages/botocore), which shadows the runtime's own: "
        "boto3 in lambdash's handler imports this one",
        "brings six (/opt/python/six.py), which shadows the runtime's own: boto3 in lambdash's handler imports "
        "this one",
    ]
    assert layer_findings(["python/requests/__init__.py", "python/boto3-1.35.0.dist-info/METADATA",
                           "nodejs/node_modules/boto3/index.js", "bin/jq"]) == []
