from slack_bolt import Ack


def open_button(ack: Ack) -> None:
    """Open is a link: Slack opens it and still tells the app, which only acks."""
    ack()
