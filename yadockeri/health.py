"""`python -m yadockeri.health`: exit 0 when the bot in this container serves, else 1.

The yadockeri image's HEALTHCHECK. It asks the bot's own GET /healthz on YADOCKERI_BOT_PORT
(200 while HTTP mode serves, or while Socket Mode is connected to Slack; 503 otherwise), so a
bot that cannot bind its port, lost its Slack connection or never started is unhealthy.
Standard library only: it runs every few seconds and must start fast.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check(port: int, timeout: float = 3.0) -> str | None:
    """None when healthy, else why not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as answer:
            return None if answer.status == 200 else f"/healthz answered {answer.status}"
    except urllib.error.HTTPError as error:
        return f"/healthz answered {error.code}"
    except (OSError, ValueError) as error:
        return f"the bot does not answer on port {port}: {getattr(error, 'reason', error)}"


def main() -> int:
    port = int(os.environ.get("YADOCKERI_BOT_PORT") or 3000)
    problem = check(port)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
