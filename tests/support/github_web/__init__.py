"""A local, strict stand-in for GitHub's REST API, and webhook deliveries signed as GitHub signs them.

    with GitHubStandin(token="ghs_x") as github:
        github.add_repo("acme/shop")
        github.open_pull("acme/shop", 7, head_sha=sha, head_ref="feature")
        ...  # point a client at github.url (as it would at https://api.github.com)
        assert github.latest_state("acme/shop", "pr-7") == "success"
        assert not github.violations

It answers like GitHub: the same object shapes and error bodies (401 "Bad credentials", 404 "Not Found",
422 "Validation Failed" / "Invalid request.", 409 for failed commit status checks, 400 "Problems parsing
JSON"), pagination with `Link` headers, and GitHub's deployment rules (`required_contexts` omitted means
every context, `auto_merge` omitted means on, `auto_inactive`). What GitHub would take but a client
should not do (no `Accept: application/vnd.github+json`, a body not sent as JSON, letting auto_merge push
a merge commit) is recorded in `violations`; every request is recorded in `calls`.

  base.py          records (repositories, pull requests, deployments, statuses, comments, calls), errors
  world.py         the state and its lookups, under one lock
  shapes.py        the JSON objects GitHub answers with and puts in webhook payloads
  checks.py        request bodies checked against the endpoint's schema, with GitHub's messages
  paging.py        per_page/page and the Link header
  front.py         the HTTP server: failures planned, token, Accept, route, JSON body, repository; recording
  pulls.py         the repository, its pull requests
  deployments.py   deployments
  statuses.py      deployment statuses and auto_inactive
  environments.py  environments
  comments.py      issue comments
  standin.py       GitHubStandin: start, set up, inspect
  webhooks.py      pull_request payloads, sign(), deliver()
"""

from .standin import GitHubStandin

__all__ = ["GitHubStandin"]
