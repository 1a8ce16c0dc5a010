"""The store's queries, one class per subject, all over one session factory (`base.Queries`).

`stacks.store.Store` is every one of them at once; nothing else opens a session.

  base.py         the session factory and the helpers every subject uses (conditional updates, inserts)
  stacks.py       apps and stacks: read, change state, destroy, images in use
  deployments.py  deployments and their steps: queue (with the branch check), run, finish, recover
  locks.py        the per-stack lock and the leases (who holds what)
  env.py          a stack's env, encrypted at rest
  idle.py         request counts, idle warnings, keep, and what is busy
  events.py       the audit trail
"""
