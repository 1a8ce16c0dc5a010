"""`POST/GET .../deployments/{id}/statuses` and `GET .../statuses/{status_id}`: states and description
length checked (422), and GitHub's `auto_inactive` (on unless sent false): a `success` status adds an
`inactive` status to every earlier deployment of the same environment whose state is `success`, except
transient and production ones (as docs.github.com describes "Inactive deployments")."""

from __future__ import annotations

from collections.abc import Callable

from .base import Answer, Deployment, DeploymentStatus, Handler, Request, not_found, now_iso, validation_failed
from .checks import check_body, too_long
from .paging import paginate
from .shapes import status_object
from .world import World

DEPLOYMENT_STATES = frozenset({"error", "failure", "inactive", "in_progress", "queued", "pending", "success"})
MAX_DESCRIPTION = 140
CREATE_SCHEMA = {"state": "string", "target_url": "string", "log_url": "string", "description": "string",
                 "environment": "string", "environment_url": "string", "auto_inactive": "boolean"}


class StatusesApi:
    def __init__(self, world: World, api: Callable[[], str]) -> None:
        self._world = world
        self._api = api

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", r"/deployments/(?P<id>\d+)/statuses", self.create_status),
            ("GET", r"/deployments/(?P<id>\d+)/statuses", self.list_statuses),
            ("GET", r"/deployments/(?P<id>\d+)/statuses/(?P<status_id>\d+)", self.get_status),
        ]

    def create_status(self, request: Request) -> Answer:
        deployment = self._world.find_deployment(request.repo, request.params["id"])
        body = request.body
        check_body(body, CREATE_SCHEMA, required=("state",))
        if body["state"] not in DEPLOYMENT_STATES:
            raise validation_failed("DeploymentStatus", "state", "custom", "state is not included in the list")
        error = too_long("DeploymentStatus", "description", body.get("description"), MAX_DESCRIPTION)
        if error is not None:
            raise error
        at = now_iso()
        if "environment" in body:  # a status may move its deployment to another environment
            deployment.environment = body["environment"]
            self._world.environment(request.repo, deployment.environment, at).updated_at = at
        status = self.add_status(deployment, body["state"], at, description=body.get("description", ""),
                                 environment_url=body.get("environment_url", ""),
                                 log_url=body.get("log_url", body.get("target_url", "")))
        if status.state == "success" and body.get("auto_inactive", True):
            self._inactivate_earlier(deployment, at)
        return Answer(201, status_object(self._api(), request.repo.full_name, status))

    def add_status(self, deployment: Deployment, state: str, at: str, *, description: str = "",
                   environment_url: str = "", log_url: str = "") -> DeploymentStatus:
        status = DeploymentStatus(
            id=next(self._world.status_ids), deployment_id=deployment.id, state=state, description=description,
            environment=deployment.environment, environment_url=environment_url, log_url=log_url,
            creator=self._world.login, created_at=at)
        deployment.statuses.append(status)
        deployment.updated_at = at
        return status

    def _inactivate_earlier(self, deployment: Deployment, at: str) -> None:
        for other in self._world.deployments.values():
            if (other.repo == deployment.repo and other.id < deployment.id and other.state == "success"
                    and other.environment == deployment.environment
                    and not other.transient_environment and not other.production_environment):
                self.add_status(other, "inactive", at, environment_url=other.statuses[-1].environment_url)

    def list_statuses(self, request: Request) -> Answer:
        deployment = self._world.find_deployment(request.repo, request.params["id"])
        api = self._api()
        statuses = [status_object(api, request.repo.full_name, s) for s in reversed(deployment.statuses)]
        return paginate(statuses, request.query, f"{api}{request.path}")

    def get_status(self, request: Request) -> Answer:
        deployment = self._world.find_deployment(request.repo, request.params["id"])
        status = next((s for s in deployment.statuses if s.id == int(request.params["status_id"])), None)
        if status is None:
            raise not_found()
        return Answer(200, status_object(self._api(), request.repo.full_name, status))
