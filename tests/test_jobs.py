"""The table of job kinds (stacks/jobs.py) agrees with the database's kinds and states."""

from __future__ import annotations

from stacks.jobs import BUILDS_BRANCH, RULES, JobKind
from stacks.models import DEPLOYMENT_KINDS, STACK_STATES


def test_every_kind_the_database_knows_has_its_rules() -> None:
    assert set(RULES) == set(JobKind) and {kind.value for kind in JobKind} == set(DEPLOYMENT_KINDS)
    assert all(rules.state_while is None or rules.state_while in STACK_STATES for rules in RULES.values())


def test_only_deploys_build_a_branch_and_kinds_compare_as_their_words() -> None:
    assert BUILDS_BRANCH == ("deploy", "redeploy")
    assert JobKind("env") is JobKind.ENV and JobKind.ENV == "env"
