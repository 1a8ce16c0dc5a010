"""`GET .../environments`, `GET/DELETE .../environments/{name}`: the environments deployments made
(as on GitHub, a deployment to a new environment name creates it). Deleting one deletes its deployments."""

from __future__ import annotations

from collections.abc import Callable

from .base import Answer, Environment, Handler, Request, not_found
from .paging import paginate
from .shapes import environment_object
from .world import World


class EnvironmentsApi:
    def __init__(self, world: World, api: Callable[[], str]) -> None:
        self._world = world
        self._api = api

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", r"/environments", self.list_environments),
            ("GET", r"/environments/(?P<environment>[^/]+)", self.get_environment),
            ("DELETE", r"/environments/(?P<environment>[^/]+)", self.delete_environment),
        ]

    def list_environments(self, request: Request) -> Answer:
        api, repo = self._api(), request.repo
        environments = [environment_object(api, repo.full_name, e) for e in repo.environments.values()]
        answer = paginate(environments, request.query, f"{api}{request.path}")
        answer.body = {"total_count": len(environments), "environments": answer.body}  # not a bare list here
        return answer

    def get_environment(self, request: Request) -> Answer:
        return Answer(200, environment_object(self._api(), request.repo.full_name, self._find(request)))

    def delete_environment(self, request: Request) -> Answer:
        environment = self._find(request)
        del request.repo.environments[environment.name]
        for deployment in self._world.repo_deployments(request.repo):
            if deployment.environment == environment.name:
                del self._world.deployments[deployment.id]
        return Answer(204)

    def _find(self, request: Request) -> Environment:
        environment = request.repo.environments.get(request.params["environment"])
        if environment is None:
            raise not_found()
        return environment
