"""The lambdash Lambda function: run shell commands in the sandbox and return exact bytes.

Everything in this package runs inside AWS Lambda. It uses only the standard
library and boto3 (which every Python managed runtime ships), so deploy can zip
this folder as it is. The entry point is ``handler.app.handle``.
"""
