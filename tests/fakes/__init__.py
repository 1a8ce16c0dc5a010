"""In-memory stand-ins for the engine's ports (stacks/ports.py), for tests that need no Docker:
FakeSwarm (DockerPort), FakeMirror over a FakeRepo (MirrorPort), FakeRouter (the router's
readiness answers, over HTTP) and the real Store on a SQLite file copied from a template
(tests/fakes/store.py says why there is no fake store). tests/contract/ keeps the fakes honest:
the same checks run against them and against the real adapters."""
