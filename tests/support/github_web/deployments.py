"""`POST/GET .../deployments`, `GET/DELETE .../deployments/{id}`, with GitHub's rules for creating one:
the ref must exist (422), every commit status of the sha (or of the `required_contexts` given) must be
`success` (409), and a ref behind the default branch is merged instead of deployed when `auto_merge` is
left on (202, nothing created; the stand-in records that as a violation, as no client should let GitHub
push merge commits to a pull request's branch)."""

from __future__ import annotations

from collections.abc import Callable

from .base import Answer, ApiError, Deployment, Handler, Repo, Request, now_iso, validation_failed
from .checks import check_body
from .paging import paginate
from .shapes import deployment_object
from .world import World

CREATE_SCHEMA = {"ref": "string", "task": "string", "auto_merge": "boolean", "required_contexts": "strings",
                 "payload": "object|string", "environment": "string", "description": "?string",
                 "transient_environment": "boolean", "production_environment": "boolean"}


class DeploymentsApi:
    def __init__(self, world: World, api: Callable[[], str]) -> None:
        self._world = world
        self._api = api

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", r"/deployments", self.create_deployment),
            ("GET", r"/deployments", self.list_deployments),
            ("GET", r"/deployments/(?P<id>\d+)", self.get_deployment),
            ("DELETE", r"/deployments/(?P<id>\d+)", self.delete_deployment),
        ]

    def create_deployment(self, request: Request) -> Answer:
        repo, body = request.repo, request.body
        check_body(body, CREATE_SCHEMA, required=("ref",))
        ref: str = body["ref"]
        sha = self._world.resolve_ref(repo, ref)
        if sha is None:
            raise validation_failed("Deployment", "ref", message=f"No ref found for: {ref}")
        if body.get("auto_merge", True) and sha in repo.behind:
            self._world.violation_log.append(
                f"POST {request.path} ref={ref}: auto_merge would have pushed a merge commit "
                f"(the ref is behind {repo.default_branch}; send auto_merge: false)")
            return Answer(202, {"message": f"Auto-merged {repo.default_branch} into {ref} on deployment."})
        self._check_contexts(repo, ref, sha, body.get("required_contexts"))
        environment = body.get("environment", "production")
        at = now_iso()
        deployment = Deployment(
            id=next(self._world.deployment_ids), repo=repo.full_name, sha=sha, ref=ref, task=body.get("task", "deploy"),
            environment=environment, original_environment=environment, description=body.get("description", ""),
            payload=body.get("payload", {}), transient_environment=body.get("transient_environment", False),
            production_environment=body.get("production_environment", environment == "production"),
            creator=self._world.login, created_at=at, updated_at=at)
        self._world.deployments[deployment.id] = deployment
        self._world.environment(repo, environment, at).updated_at = at
        return Answer(201, deployment_object(self._api(), deployment))

    def _check_contexts(self, repo: Repo, ref: str, sha: str, required: list[str] | None) -> None:
        """Omitted `required_contexts` means every context the commit has; a required context the
        commit has no status for fails too."""
        statuses = repo.commit_statuses.get(sha, {})
        contexts = list(statuses) if required is None else required
        if all(statuses.get(context) == "success" for context in contexts):
            return
        raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.", errors=[{
            "contexts": [{"context": c, "state": s} for c, s in statuses.items()],
            "resource": "Deployment", "field": "required_contexts", "code": "invalid"}])

    def list_deployments(self, request: Request) -> Answer:
        query = request.query
        found = [d for d in reversed(self._world.repo_deployments(request.repo))  # newest first
                 if all(getattr(d, key) == query[key] for key in ("sha", "ref", "task", "environment") if key in query)]
        api = self._api()
        return paginate([deployment_object(api, d) for d in found], query, f"{api}{request.path}")

    def get_deployment(self, request: Request) -> Answer:
        return Answer(200, deployment_object(self._api(), self._world.find_deployment(request.repo, request.params["id"])))

    def delete_deployment(self, request: Request) -> Answer:
        """Only an inactive deployment may go, unless it is the only one of its environment."""
        deployment = self._world.find_deployment(request.repo, request.params["id"])
        same_environment = [d for d in self._world.repo_deployments(request.repo)
                            if d.environment == deployment.environment]
        if deployment.state != "inactive" and len(same_environment) > 1:
            raise ApiError(422, "We cannot delete an active deployment unless it is the only deployment in a given "
                                "environment.")
        del self._world.deployments[deployment.id]
        return Answer(204)
