"""Webhook deliveries as GitHub sends them: `pull_request` event payloads, the `X-Hub-Signature-256`
signature (HMAC-SHA256 of the raw body with the hook's secret, hex, prefixed `sha256=`), and a POST
with GitHub's headers and its 10 s timeout.

    payload = pull_request_payload("opened", repo="acme/shop", number=7, head_sha=sha, head_ref="feature")
    response = deliver(f"{bot_url}/github/webhook", "pull_request", payload, secret)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import requests

from .base import Pull, Repo, account_id, fake_sha, now_iso
from .shapes import base_repo_object, full_pull_object, user_object

if TYPE_CHECKING:
    from stacks.engine import Engine

GITHUB_API = "https://api.github.com"
DELIVERY_TIMEOUT = 10.0  # seconds GitHub waits for a webhook's answer before calling the delivery failed
HOOK_ID = 48_000_001


def sign(body: bytes, secret: str) -> str:
    """`X-Hub-Signature-256` for a body: `sha256=` and the hex HMAC-SHA256 of the raw bytes with the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_sha1(body: bytes, secret: str) -> str:
    """The legacy `X-Hub-Signature` GitHub still sends alongside: `sha1=` and the HMAC-SHA1."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def pull_request_payload(
    action: str, *, repo: str, number: int, head_sha: str, head_ref: str, base_ref: str = "main",
    fork: bool = False, head_repo: str | None = None, sender: str = "octocat", merged: bool = False,
    installation: int | None = None, title: str | None = None, before: str | None = None,
    default_branch: str = "main", private: bool = False, draft: bool = False, api: str = GITHUB_API,
) -> dict[str, Any]:
    """A `pull_request` event payload. `closed` (with `merged`) closes the pull request; `synchronize`
    carries `before` (a made-up sha unless given) and `after` (the new head). The author is `sender`,
    and a fork's head repository is `<sender>/<name>` unless `head_repo` names it."""
    at = now_iso()
    base = Repo(account_id(repo), repo, default_branch, private)
    base.branches[base_ref] = fake_sha(f"{repo}:{base_ref}")
    closed = action == "closed"
    pull = Pull(number, title or f"Pull request {number}", head_sha, head_ref,
                head_repo or (f"{sender}/{base.name}" if fork else repo), fork, sender, base_ref, draft,
                state="closed" if closed else "open", merged=closed and merged, created_at=at, updated_at=at,
                closed_at=at if closed else None, merged_at=at if closed and merged else None)
    payload: dict[str, Any] = {"action": action, "number": number, "pull_request": full_pull_object(api, base, pull)}
    if action == "synchronize":
        payload["before"] = before or fake_sha(f"before:{head_sha}")
        payload["after"] = head_sha
    payload["repository"] = base_repo_object(api, base)
    payload["sender"] = user_object(api, sender)
    if installation is not None:  # deliveries to a GitHub App carry its installation
        legacy_id = base64.b64encode(f"023:IntegrationInstallation{installation}".encode()).decode()
        payload["installation"] = {"id": installation, "node_id": legacy_id}
    return payload


def delivery_headers(event: str, body: bytes, secret: str | None, *, delivery_id: str | None = None,
                     signature: str | None = None) -> dict[str, str]:
    """GitHub's delivery headers. No secret: no signature headers (a hook without one); `signature`
    replaces the computed `X-Hub-Signature-256` (a forged or stale one)."""
    headers = {
        "User-Agent": f"GitHub-Hookshot/{secrets.token_hex(4)[:7]}",
        "Content-Type": "application/json",
        "Accept": "*/*",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(HOOK_ID),
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": str(HOOK_ID + 1),
    }
    if secret is not None:
        headers["X-Hub-Signature"] = sign_sha1(body, secret)
        headers["X-Hub-Signature-256"] = sign(body, secret)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return headers


def deliver(url: str, event: str, payload: dict[str, Any], secret: str | None, *, delivery_id: str | None = None,
            signature: str | None = None, timeout: float = DELIVERY_TIMEOUT) -> requests.Response:
    """POST a delivery of `event` to `url`: the payload as compact JSON, signed with `secret`."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    headers = delivery_headers(event, body, secret, delivery_id=delivery_id, signature=signature)
    return requests.post(url, data=body, headers=headers, timeout=timeout)


def acted(engine: Engine, answer: requests.Response, timeout: float = 60) -> tuple[int, dict]:
    """(status, body) of a delivery's answer; for one kept to act on ("queued"), `done` is what
    the queue's worker did with it, once it did."""
    from stacks.pull_requests import PullRequests

    said = answer.json()
    if answer.status_code == 202 and said.get("done") == "queued":
        said["done"] = PullRequests.of(engine).deliveries.wait(said["delivery"], timeout)
    return answer.status_code, said
