"""`GET /repos/{o}/{r}`, `GET .../pulls` (state/head/base filters, sort, paginated) and `GET .../pulls/{number}`."""

from __future__ import annotations

from collections.abc import Callable

from .base import Answer, Handler, Request, validation_failed
from .paging import paginate
from .shapes import base_repo_object, full_pull_object, pull_object
from .world import World

PULL_STATES = frozenset({"open", "closed", "all"})
SORTS = frozenset({"created", "updated", "popularity", "long-running"})


class PullsApi:
    def __init__(self, world: World, api: Callable[[], str]) -> None:
        self._world = world
        self._api = api  # the stand-in's base URL (for the URLs inside objects)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", r"", self.get_repo),
            ("GET", r"/pulls", self.list_pulls),
            ("GET", r"/pulls/(?P<number>\d+)", self.get_pull),
        ]

    def get_repo(self, request: Request) -> Answer:
        return Answer(200, base_repo_object(self._api(), request.repo))

    def list_pulls(self, request: Request) -> Answer:
        repo, query = request.repo, request.query
        state = query.get("state", "open")
        if state not in PULL_STATES:
            raise validation_failed("PullRequest", "state")
        if query.get("sort", "created") not in SORTS:
            raise validation_failed("PullRequest", "sort")
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        if "head" in query:  # `owner:branch`, as GitHub takes it
            pulls = [p for p in pulls if f"{p.head_repo.split('/')[0]}:{p.head_ref}" == query["head"]]
        if "base" in query:
            pulls = [p for p in pulls if p.base_ref == query["base"]]
        by_updated = query.get("sort") == "updated"
        pulls.sort(key=lambda p: (p.updated_at, p.number) if by_updated else (p.number,),
                   reverse=query.get("direction", "desc") != "asc")
        api = self._api()
        return paginate([pull_object(api, repo, p) for p in pulls], query, f"{api}{request.path}")

    def get_pull(self, request: Request) -> Answer:
        pull = self._world.find_pull(request.repo, request.params["number"])
        return Answer(200, full_pull_object(self._api(), request.repo, pull))
