"""Issue comments (a pull request is an issue): `POST/GET .../issues/{number}/comments` and
`GET/PATCH/DELETE .../issues/comments/{id}`. Bodies are required strings of at most 65536 characters."""

from __future__ import annotations

from collections.abc import Callable

from .base import Answer, Comment, Handler, Request, now_iso
from .checks import check_body, too_long
from .paging import paginate
from .shapes import comment_object
from .world import World

MAX_BODY = 65536
SCHEMA = {"body": "string"}


class CommentsApi:
    def __init__(self, world: World, api: Callable[[], str]) -> None:
        self._world = world
        self._api = api

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", r"/issues/(?P<number>\d+)/comments", self.create_comment),
            ("GET", r"/issues/(?P<number>\d+)/comments", self.list_comments),
            ("GET", r"/issues/comments/(?P<id>\d+)", self.get_comment),
            ("PATCH", r"/issues/comments/(?P<id>\d+)", self.edit_comment),
            ("DELETE", r"/issues/comments/(?P<id>\d+)", self.delete_comment),
        ]

    def create_comment(self, request: Request) -> Answer:
        pull = self._world.find_pull(request.repo, request.params["number"])
        body = self._checked_body(request)
        at = now_iso()
        comment = Comment(next(self._world.comment_ids), request.repo.full_name, pull.number, body, self._world.login,
                          at, at)
        self._world.comments[comment.id] = comment
        return Answer(201, comment_object(self._api(), comment))

    def list_comments(self, request: Request) -> Answer:
        pull = self._world.find_pull(request.repo, request.params["number"])
        api = self._api()
        comments = sorted((c for c in self._world.comments.values()
                           if c.repo == request.repo.full_name and c.number == pull.number), key=lambda c: c.id)
        return paginate([comment_object(api, c) for c in comments], request.query, f"{api}{request.path}")

    def get_comment(self, request: Request) -> Answer:
        return Answer(200, comment_object(self._api(), self._world.find_comment(request.repo, request.params["id"])))

    def edit_comment(self, request: Request) -> Answer:
        comment = self._world.find_comment(request.repo, request.params["id"])
        comment.body = self._checked_body(request)
        comment.updated_at = now_iso()
        return Answer(200, comment_object(self._api(), comment))

    def delete_comment(self, request: Request) -> Answer:
        comment = self._world.find_comment(request.repo, request.params["id"])
        del self._world.comments[comment.id]
        return Answer(204)

    def _checked_body(self, request: Request) -> str:
        check_body(request.body, SCHEMA, required=("body",))
        error = too_long("IssueComment", "body", request.body["body"], MAX_BODY)
        if error is not None:
            raise error
        return str(request.body["body"])
