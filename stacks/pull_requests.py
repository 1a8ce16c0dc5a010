"""Review stacks for GitHub pull requests (docs/github.md).

A `pull_request` webhook (opened, reopened, synchronize) deploys the pull request's head
(`pull/N/head`, fetched from `refs/pull/N/head`) as the stack its app's template names; `closed`
destroys it. A periodic reconciliation repairs missed deliveries against the open pull requests.
Pull-request stacks are owned by the `github` identity; admins may still change or destroy them.
They count toward YADOCKERI_MAX_STACKS, never toward the per-person cap (stacks/capacity.py).

What happens is told on GitHub (stacks/github.py, through its outbox): a deployment per deployed
commit with its statuses (in_progress, success with the URL, failure with the reason, inactive on
destroy and reap and for older deployments) and one comment, edited in place.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

from .capacity import GITHUB_OWNER
from .config import AppConfig
from .deliveries import DeliveryQueue, MalformedPayload
from .engine import Engine
from .errors import InvalidName, YadockeriError
from .github import GitHub, Outbox
from .names import check_stack_name
from .progress import Reporter
from .queries.github import PullRequestRecord
from .runner import Actor, StackEvent
from .store import DeploymentRecord
from .text import inert

log = logging.getLogger(__name__)

GITHUB = Actor(id=GITHUB_OWNER, source="github")
OPENING = ("opened", "reopened", "synchronize")
MARKER = "<!-- yadockeri -->"
FRONT_ENDS = {"slack": "Slack", "cli": "the command line", "api": "the API"}


@dataclass(frozen=True)
class Pull:
    repo: str
    number: int
    head_sha: str
    fork: bool
    html_url: str | None
    title: str

    @classmethod
    def of(cls, pull: Any, repo: str) -> Pull:
        """A pull request object (a webhook's `pull_request`, or one of GET /pulls)."""
        try:
            number, sha = pull["number"], pull["head"]["sha"]
            head_repo = (pull["head"].get("repo") or {}).get("full_name")
            base_repo = pull["base"]["repo"]["full_name"]
            if not isinstance(number, int) or not isinstance(sha, str) or len(sha) != 40:
                raise MalformedPayload("pull_request.number or head.sha is not what GitHub sends")
            fork = head_repo != base_repo or bool((pull["head"].get("repo") or {}).get("fork"))
            return cls(repo, number, sha, fork, pull.get("html_url"), str(pull.get("title") or "")[:200])
        except (KeyError, TypeError, AttributeError) as error:
            raise MalformedPayload(f"not a pull request as GitHub sends it (missing {error})") from None


def event_of(payload: Any) -> tuple[str, Pull]:
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        raise MalformedPayload("a pull_request delivery needs an action")
    try:
        repo = payload["repository"]["full_name"]
    except (KeyError, TypeError):
        raise MalformedPayload("a pull_request delivery needs repository.full_name") from None
    if not isinstance(repo, str):
        raise MalformedPayload("repository.full_name is not text")
    return payload["action"], Pull.of(payload.get("pull_request"), repo)


class PullRequests:
    _of: weakref.WeakKeyDictionary[Engine, PullRequests] = weakref.WeakKeyDictionary()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.outbox = Outbox()
        self._github: GitHub | None = None
        self.deliveries = DeliveryQueue(self)
        engine.add_listener(self._stack_event)
        engine.jobs.watch(self._reporter_for)  # by hand too: Slack, the command line, the API

    @classmethod
    def of(cls, engine: Engine) -> PullRequests:
        """One per engine: it listens to the engine's events (sleep, wake, reap)."""
        if engine not in cls._of:
            cls._of[engine] = cls(engine)
        return cls._of[engine]

    @property
    def github(self) -> GitHub | None:
        """The client of the configured GitHub (one, kept while the settings say the same)."""
        settings = self.engine.settings
        if settings.github_token is None:
            return None
        token = settings.github_token.get_secret_value()
        if self._github is None or (self._github.api_url, self._github.token) != (settings.github_api_url.rstrip("/"), token):
            self._github = GitHub.connect(settings.github_api_url, token)
        return self._github

    def apps_for(self, repo: str) -> list[tuple[str, AppConfig]]:
        return [(name, app) for name, app in self.engine.settings.apps.items()
                if app.github and app.github.lower() == repo.lower() and app.pull_requests is not None]

    def stack_name(self, app_name: str, app: AppConfig, number: int) -> str:
        several = sum(1 for a in self.engine.settings.apps.values() if a.pull_requests is not None) > 1
        template = (app.pull_requests.stack if app.pull_requests else None) or (
            "{app}-pr-{number}" if several else "pr-{number}")
        return check_stack_name(template.replace("{app}", app_name).replace("{number}", str(number)))

    # Deliveries -------------------------------------------------------------------------------
    def triage(self, event: str, payload: Any) -> str | None:
        """What a signed delivery asks: None if it has work to queue, else the answer at once
        (MalformedPayload if it is not what GitHub sends)."""
        if event == "ping":
            return "pong"
        if event != "pull_request":
            return f"ignored: {event} events"
        action, _ = event_of(payload)
        return None if action in (*OPENING, "closed") else f"ignored: pull_request {action}"

    def handle(self, event: str, payload: Any) -> str:
        """Act on one delivery (from the queue, stacks/deliveries.py). Returns what it did, in words."""
        answer = self.triage(event, payload)
        if answer is not None:
            return answer
        action, pull = event_of(payload)
        return self.opened(pull) if action in OPENING else self.closed(pull)

    def opened(self, pull: Pull) -> str:
        done = [self._deploy(name, app, pull) for name, app in self.apps_for(pull.repo)]
        return "; ".join(done) or f"no app is connected to {pull.repo}"

    def closed(self, pull: Pull) -> str:
        record = self.engine.store.pull_request(pull.repo, pull.number)
        if record is None or not self.apps_for(pull.repo):
            return f"no stack serves {pull.repo}#{pull.number}"
        self.engine.store.set_pull_request(pull.repo, pull.number, open=False)
        stack = self.engine.store.get_stack(record.stack)
        if stack is None or stack.owner != GITHUB.id:
            return f"{record.stack}: nothing to destroy"
        handle = self.engine.destroy(record.stack, GITHUB)
        return f"destroying {record.stack} (deployment #{handle.deployment.id})"

    def _deploy(self, app_name: str, app: AppConfig, pull: Pull) -> str:
        assert app.pull_requests is not None
        try:
            stack = self.stack_name(app_name, app, pull.number)
        except InvalidName as error:
            return self._refuse(pull, None, f"no review stack: its name from `pull_requests.stack` is not valid ({error})")
        record = self.engine.store.save_pull_request(repo=pull.repo, number=pull.number, app=app_name, stack=stack,
                                                     head_sha=pull.head_sha, fork=pull.fork, open_=True,
                                                     html_url=pull.html_url)
        if pull.fork and not app.pull_requests.forks:
            return self._refuse(pull, record, "no review stack: this pull request comes from a fork, and the app does "
                                              "not deploy forks (they would run outside code on the swarm)")
        existing = self.engine.store.get_stack(stack)
        if existing is not None and existing.owner != GITHUB.id:
            return self._refuse(pull, record, f"no review stack: `{stack}` is a stack of <{existing.owner}>, "
                                              "not this pull request's")
        try:
            handle = self.engine.deploy(stack, f"pull/{pull.number}/head", GITHUB, app=app_name,
                                        env=dict(app.pull_requests.env) if existing is None else None)
        except YadockeriError as error:
            return self._refuse(pull, record, f"not deployed: {error}")
        return f"deploying {stack} (deployment #{handle.deployment.id})"

    def _refuse(self, pull: Pull, record: PullRequestRecord | None, why: str) -> str:
        self.comment(pull.repo, pull.number, f":no_entry: {why}", record)
        return why

    # Reconciliation ---------------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Against GitHub's open pull requests of each connected app: deploy what a missed
        delivery left undeployed (new, or pushed since), destroy what was closed meanwhile. A
        stack reaped while its pull request stays open is recreated by the next push, not here."""
        github = self.github
        if github is None:
            return []
        done: list[str] = []
        repos = {app.github for _, app in self.engine.settings.apps.items() if app.github and app.pull_requests}
        for repo in sorted(r for r in repos if r):
            pulls = [Pull.of(p, repo) for p in github.open_pulls(repo)]
            known = {r.number: r for r in self.engine.store.pull_requests(repo)}
            for pull in pulls:
                record = known.get(pull.number)
                if record is None or not record.open or record.head_sha != pull.head_sha:
                    done.append(self.opened(pull))
            numbers = {pull.number for pull in pulls}
            for record in known.values():
                if record.open and record.number not in numbers:
                    done.append(self.closed(Pull(repo, record.number, record.head_sha, record.fork, record.html_url, "")))
        return done

    # What GitHub is told ----------------------------------------------------------------------
    def comment(self, repo: str, number: int, text: str, record: PullRequestRecord | None) -> None:
        github = self.github
        if github is None:
            return

        def send() -> None:
            current = self.engine.store.pull_request(repo, number)
            comment_id = current.comment_id if current else (record.comment_id if record else None)
            body = f"{MARKER}\n**yadockeri** {inert(text)}"
            new_id = github.comment(repo, number, body, comment_id)
            if current is not None and new_id != comment_id:
                self.engine.store.set_pull_request(repo, number, comment_id=new_id)

        self.outbox.send(send)

    def _reporter_for(self, deployment: DeploymentRecord) -> Reporter | None:
        """Every deployment of a pull request's stack is told on GitHub, whoever asked for it."""
        if deployment.kind in ("sleep", "wake") or deployment.source == "scheduler" or self.github is None:
            return None  # (sleep, wake and the scheduler's reaps are told as stack events)
        record = self.engine.store.pull_request_of(deployment.stack)
        if record is None:
            return None
        stack = self.engine.store.get_stack(deployment.stack)
        if stack is None or stack.owner != GITHUB.id:  # the name was reused by a person since
            return None
        return GitHubReporter(self, record)

    def _stack_event(self, event: StackEvent) -> None:
        if event.kind not in ("slept", "woke", "reaped", "rolled-back"):
            return
        record = self.engine.store.pull_request_of(event.stack)
        if record is None or self.github is None:
            return
        url = self.engine.settings.stack_url(event.stack)
        if event.kind == "reaped":
            GitHubReporter(self, record).inactive("reaped: nobody used it for a long time; a new push recreates it")
        else:
            words = {"slept": f"`{event.stack}` sleeps (idle): a visit to {url} wakes it",
                     "woke": f"`{event.stack}` is live again at {url}",
                     "rolled-back": f"`{event.stack}`: the new version was rolled back ({event.detail})"}
            self.comment(record.repo, record.number, words[event.kind], record)


class GitHubReporter(Reporter):
    """Tells GitHub what one deployment of a pull request's stack does (through the outbox)."""

    def __init__(self, service: PullRequests, record: PullRequestRecord) -> None:
        self.service, self.record = service, record
        self.deployment_id: int | None = record.github_deployment

    def started(self, deployment: DeploymentRecord) -> None:
        if deployment.kind == "destroy":
            return
        github, record = self.service.github, self.record
        if github is None:
            return
        stack, by = record.stack, _by_hand(deployment)
        if deployment.branch != f"pull/{record.number}/head":  # an admin put other code on the stack
            self.inactive(f"now runs branch `{deployment.branch}`{by}: not this pull request's code")
            self.deployment_id = None
            return

        def start() -> None:
            self.deployment_id = github.create_deployment(record.repo, sha=record.head_sha, environment=stack,
                                                          description=f"yadockeri review stack {stack}{by}")
            self.service.engine.store.set_pull_request(record.repo, record.number, github_deployment=self.deployment_id)
            github.set_status(record.repo, self.deployment_id, "in_progress", f"deploying {record.head_sha[:7]}{by}")

        self.service.outbox.send(start)
        self.service.comment(record.repo, record.number,
                             f":hourglass: deploying `{record.head_sha[:7]}` to `{stack}`{by}…", record)

    def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
        if deployment.kind == "destroy":
            if deployment.state == "succeeded":
                by = _by_hand(deployment)
                self.inactive(f"destroyed{by}" if by else "destroyed: the pull request was closed")
            return
        if deployment.branch != f"pull/{self.record.number}/head":
            return
        github, record = self.service.github, self.record
        if github is None:
            return
        url = urls[0] if urls else self.service.engine.settings.stack_url(record.stack)
        ok = deployment.state == "succeeded"
        reason = (deployment.error or deployment.state).splitlines()[0]

        def finish() -> None:
            if self.deployment_id is None:  # GitHub refused to create it: nothing to set
                return
            if ok:
                github.set_status(record.repo, self.deployment_id, "success", f"live at {url}", environment_url=url)
                for older in github.deployments(record.repo, record.stack):
                    if older["id"] != self.deployment_id:
                        github.set_status(record.repo, older["id"], "inactive", "a newer commit is deployed")
            else:
                github.set_status(record.repo, self.deployment_id, "failure", reason)

        self.service.outbox.send(finish)
        text = (f":white_check_mark: `{record.stack}` is live at {url} (commit `{record.head_sha[:7]}`)" if ok else
                f":x: deploying `{record.head_sha[:7]}` to `{record.stack}` failed: {reason}")
        self.service.comment(record.repo, record.number, text, record)

    def inactive(self, why: str) -> None:
        github, record = self.service.github, self.record
        if github is None:
            return

        def deactivate() -> None:
            current = self.service.engine.store.pull_request(record.repo, record.number)
            deployment = current.github_deployment if current else self.deployment_id
            if deployment is not None:
                github.set_status(record.repo, deployment, "inactive", why[:140])

        self.service.outbox.send(deactivate)
        self.service.comment(record.repo, record.number, f":wastebasket: `{record.stack}` {why}", record)


def _by_hand(deployment: DeploymentRecord) -> str:
    """How a deployment a person asked for is told on GitHub (" by hand, from slack"); "" for ours."""
    if deployment.source == GITHUB.source:
        return ""
    source = deployment.source.split(":")[0]
    return f" by hand, from {FRONT_ENDS.get(source, source)}"
