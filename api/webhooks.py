"""`POST /webhooks/github`: GitHub's deliveries, verified and acted on at once.

The signature (`X-Hub-Signature-256`, an HMAC-SHA256 of the raw body with
YADOCKERI_GITHUB_WEBHOOK_SECRET) is compared in constant time before the body is read as JSON.
A delivery is recorded by its `X-GitHub-Delivery` id only once its work is queued (a deployment
recorded is durable): a redelivery of an id acted on is answered 200 and does nothing again,
and one whose first try failed before that is acted on. The work itself is the engine's
(stacks/pull_requests.py); the answer says what it did.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stacks.engine import Engine
from stacks.pull_requests import MalformedPayload, PullRequests

from .errors import problem

MAX_BODY = 5 * 1024 * 1024  # GitHub caps payloads at 25 MB; a pull_request event is far smaller


def signature_of(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def install(app: FastAPI, engine: Engine) -> None:
    if engine.settings.github_token is not None:
        PullRequests.of(engine)  # from the start: it tells GitHub of sleeps, wakes and reaps too
    acting: set[str] = set()  # deliveries being acted on in this process (a concurrent duplicate waits its turn)
    lock = threading.Lock()

    @app.post("/webhooks/github", include_in_schema=False)
    async def github(request: Request) -> Response:
        secret = engine.settings.github_webhook_secret
        if secret is None:
            return problem(503, "GitHub webhooks are not set up here: set YADOCKERI_GITHUB_WEBHOOK_SECRET (docs/github.md)")
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return problem(413, "the delivery is larger than yadockeri reads")
        body = await request.body()
        given = request.headers.get("x-hub-signature-256", "")
        if not hmac.compare_digest(given.encode(), signature_of(body, secret.get_secret_value()).encode()):
            return problem(401, "the X-Hub-Signature-256 of this delivery is not the webhook secret's: nothing was done")
        event, delivery = request.headers.get("x-github-event", ""), request.headers.get("x-github-delivery", "")
        if not event or not delivery or len(delivery) > 64:
            return problem(400, "a delivery needs X-GitHub-Event and X-GitHub-Delivery (at most 64 characters)")
        with lock:
            if delivery in acting:
                return JSONResponse({"delivery": delivery, "done": "being acted on"}, status_code=200)
            acting.add(delivery)
        try:
            if await run_in_threadpool(engine.store.delivery_seen, delivery):
                return JSONResponse({"delivery": delivery, "done": "acted on already"}, status_code=200)
            try:
                payload = json.loads(body)
            except ValueError:
                return problem(400, "the delivery's body is not JSON")
            try:
                said = await run_in_threadpool(PullRequests.of(engine).handle, event, payload)
            except MalformedPayload as error:
                return problem(400, str(error))
            await run_in_threadpool(engine.store.record_delivery, delivery, event)
            return JSONResponse({"delivery": delivery, "done": said}, status_code=202)
        finally:
            with lock:
                acting.discard(delivery)
