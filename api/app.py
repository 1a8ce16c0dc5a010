"""The API's routes: thin, like the Slack listeners. Each checks names with the parser's rules,
calls one engine function with plain values as the token's actor, and answers a model of
api/schemas.py. Endpoints are plain functions (FastAPI runs them on its thread pool); event
streams are coroutines (api/events.py)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from stacks.engine import Engine
from stacks.names import check_app_name, check_branch, check_env_key, check_process_name, check_stack_name
from stacks.runner import Actor

from . import errors, events, schemas, views, webhooks
from .auth import Authenticator
from .snapshot import Snapshot

PROBLEMS: dict[int | str, dict] = {code: {"model": schemas.Problem} for code in (400, 401, 403, 404, 409, 422, 429, 503)}
STREAM: dict[int | str, dict] = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "Server-Sent Events: step, state, then end"}}

def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="yadockeri", version="1", description="Review environments on Docker Swarm (docs/api.md).",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    errors.install(app)
    authenticator = Authenticator(engine.tokens, engine.settings.api_rate)
    watches = events.Watches(engine)
    settings = lambda: engine.settings  # noqa: E731 - read at each call: a test may replace them
    stacks = Snapshot(lambda: schemas.StackList(
        stacks=[views.stack(s, settings(), engine.next_for(s)) for s in engine.list_stacks()]).model_dump_json().encode())
    engine.feed.subscribe_all(stacks.forget)  # a deployment changed: the list may have

    async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
        return await authenticator.actor(authorization, request.client.host if request.client else "?")

    Caller = Annotated[Actor, Depends(caller)]
    api = APIRouter(prefix="/api/v1", responses=PROBLEMS)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:  # for a TLS terminator's checks; a plain def: it runs on the worker threads
        return {"ok": True}

    @api.get("/stacks", response_model=schemas.StackList)
    async def list_stacks(actor: Caller) -> Response:
        return Response(await stacks.body(), media_type="application/json")

    @api.get("/stacks/{stack}", response_model=schemas.Stack)
    def get_stack(stack: str, actor: Caller) -> schemas.Stack:
        record = engine.stack(check_stack_name(stack))
        return views.stack(record, settings(), engine.next_for(record))

    @api.post("/stacks/{stack}/deployments", status_code=202, response_model=schemas.Deployment)
    def deploy(stack: str, request: schemas.DeployRequest, actor: Caller) -> schemas.Deployment:
        handle = engine.deploy(check_stack_name(stack), check_branch(request.branch), actor,
                               app=check_app_name(request.app) if request.app else None)
        return views.deployment(handle.deployment, settings())

    @api.post("/stacks/{stack}/redeploy", status_code=202, response_model=schemas.Deployment)
    def redeploy(stack: str, actor: Caller) -> schemas.Deployment:
        return views.deployment(engine.redeploy(check_stack_name(stack), actor).deployment, settings())

    @api.delete("/stacks/{stack}", status_code=202, response_model=schemas.Deployment)
    def destroy(stack: str, actor: Caller) -> schemas.Deployment:
        return views.deployment(engine.destroy(check_stack_name(stack), actor).deployment, settings())

    @api.post("/stacks/{stack}/keep", response_model=schemas.Kept)
    def keep(stack: str, actor: Caller, request: Annotated[schemas.KeepRequest | None, Body()] = None) -> schemas.Kept:
        request = request or schemas.KeepRequest()
        until = engine.keep(check_stack_name(stack), actor, seconds=request.seconds, forever=request.forever)
        stacks.forget()
        return schemas.Kept(stack=stack, until=until)

    @api.get("/stacks/{stack}/env", response_model=schemas.EnvKeys)
    def env_keys(stack: str, actor: Caller) -> schemas.EnvKeys:
        return schemas.EnvKeys(stack=stack, keys=sorted(engine.env(check_stack_name(stack))))

    @api.patch("/stacks/{stack}/env", status_code=202, response_model=schemas.EnvChanged,
               responses={200: {"model": schemas.EnvChanged, "description": "nothing changed: no rollout"}})
    def change_env(stack: str, change: schemas.EnvChange, actor: Caller, response: Response) -> schemas.EnvChanged:
        values = {check_env_key(key): value for key, value in change.set_values.items()}
        changed, handle = engine.change_env(check_stack_name(stack), values,
                                            [check_env_key(key) for key in change.unset], actor)
        if handle is None:
            response.status_code = 200
        return schemas.EnvChanged(stack=stack, changed=changed,
                                  deployment=views.deployment(handle.deployment, settings()) if handle else None)

    @api.get("/stacks/{stack}/logs", response_model=schemas.Logs)
    def logs(stack: str, actor: Caller, process: str = "web",
             tail: Annotated[int, Query(ge=1, le=5000)] = 200) -> schemas.Logs:
        lines = engine.logs(check_stack_name(stack), check_process_name(process), tail)
        return schemas.Logs(stack=stack, process=process, lines=lines)

    @api.get("/deployments/{deployment_id}", response_model=schemas.Deployment)
    def get_deployment(deployment_id: int, actor: Caller) -> schemas.Deployment:
        return views.deployment(engine.deployment(deployment_id), settings())

    @api.get("/deployments/{deployment_id}/events", response_class=StreamingResponse, responses=STREAM)
    def follow(deployment_id: int, actor: Caller) -> Response:
        engine.deployment(deployment_id)  # 404 before the stream starts
        return StreamingResponse(events.stream(watches, deployment_id, settings().api_keepalive),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(api)
    app.state.stoppers = []  # called when the server stops (lifespan is off: uvicorn runs on a thread)
    webhooks.install(app, engine)
    return app
