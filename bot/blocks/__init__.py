"""Block Kit builders: small functions from plain values to slack_sdk models.

slack_sdk's models enforce Slack's limits when they are turned into dicts, so a builder that
would make something Slack refuses fails here, in a test, not in front of a user.
"""
