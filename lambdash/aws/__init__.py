"""Everything that talks to AWS through boto3: sessions (``session``), invoking (``invoke``), deploying (``deploy``).

No other module imports boto3, and nothing here is imported until a command needs AWS.
"""
