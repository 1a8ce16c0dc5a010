"""`POST /webhooks/github`: GitHub's deliveries, verified, kept and answered at once.

The signature (`X-Hub-Signature-256`, an HMAC-SHA256 of the raw body with
YADOCKERI_GITHUB_WEBHOOK_SECRET) is compared in constant time before the body is read as JSON.
A delivery with work to do is kept in the database under its `X-GitHub-Delivery` id before the
answer (202 "queued"), and acted on by the engine's worker (stacks/deliveries.py); a redelivery
of a kept id is answered 200 and does nothing again. Pings and events yadockeri does not act on
are answered at once and kept nowhere.
"""

from __future__ import annotations

import hashlib
import hmac

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
    settings = engine.settings
    if settings.github_token is not None or settings.github_webhook_secret is not None:
        # from the start: it tells GitHub of sleeps, wakes and reaps, and acts on kept deliveries
        queue = PullRequests.of(engine).deliveries.start()
        app.state.stoppers.append(queue.stop)

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
        try:
            done = await run_in_threadpool(PullRequests.of(engine).deliveries.accept, delivery, event, body)
        except MalformedPayload as error:
            return problem(400, str(error))
        if done is None:
            return JSONResponse({"delivery": delivery, "done": "acted on already"}, status_code=200)
        return JSONResponse({"delivery": delivery, "done": done}, status_code=202)
