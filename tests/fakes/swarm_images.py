"""FakeSwarm's images: BuildKit builds (scripted with `BuildScript`, held on cue with
`hold_builds_of`), pushes to the shared registry set, removal and build cache pruning."""

from __future__ import annotations

import copy
import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stacks.docker_adapter import BuildRequest
from stacks.errors import BuildFailed, YadockeriError

from .swarm_state import SwarmState, matches, normal_ref


@dataclass(frozen=True)
class BuildScript:
    """What the next builds do: fail with `fails` (docker's error line), never end (`hangs`: the
    build timeout stops it), and write `lines` first."""

    fails: str | None = None
    hangs: bool = False
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeldBuild:
    """A build held on cue: `reached` is set when it starts, it goes on once `go` is set."""

    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class BuildCall:
    tag: str
    dockerfile: str
    labels: dict[str, str]
    files: dict[str, bytes]  # the context, as the build saw it (.dockerignore applied)
    request: BuildRequest


class FakeImages(SwarmState):
    """Images by ID, tag or digest; what was built, pushed and pruned is recorded."""

    build_script: BuildScript
    builds: list[BuildCall]
    pushed: list[str]
    pruned: list[tuple[int, int | None]]  # (max age, size kept)
    _held_builds: dict[str, HeldBuild]  # by commit

    # Scripting and looking (not part of DockerPort) ---------------------------------------------
    def hold_builds_of(self, commit: str) -> HeldBuild:
        """Builds of this commit wait until the test says go (a slow build, on cue)."""
        with self._lock:
            return self._held_builds.setdefault(commit, HeldBuild())

    def release_held_builds(self) -> None:
        """Let every held build go on (a test that failed while one was held must not hang its teardown)."""
        with self._lock:
            for held in self._held_builds.values():
                held.go.set()

    def image_tags(self) -> list[str]:
        with self._lock:
            return sorted(tag for image in self._images.values() for tag in image["RepoTags"])

    # Images -----------------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        with self._call("image_exists"):
            return self._image(ref) is not None

    def buildkit_build(self, request: BuildRequest, *, log_line: Callable[[str], None], timeout: float) -> str:
        """BuildKit's plain progress in its shape: `#<n> [<i>/<count>] <instruction>` per step."""
        tag, dockerfile, labels = request.tag, request.dockerfile, request.labels
        with self._call("buildkit_build"):
            files = _read_folder(request.folder)
            script = self.build_script
            held = self._held_builds.get(labels.get("yadockeri.commit", ""))
        if held is not None:
            held.reached.set()
            assert held.go.wait(30), f"the build of {tag} was held for 30 s"
        log_line("#1 [internal] load build definition from " + dockerfile)
        if dockerfile not in files:  # BuildKit fails before any step runs
            raise BuildFailed(f"docker build failed: failed to solve with frontend dockerfile.v0: failed to read "
                              f"dockerfile: open {dockerfile}: no such file or directory")
        steps = _steps(files[dockerfile])
        lines = [f"#{n + 1} [{n}/{len(steps)}] {step}" for n, step in enumerate(steps, 1)] + list(script.lines)
        for line in lines:
            log_line(line)
        with self._lock:
            self.builds.append(BuildCall(tag, dockerfile, dict(labels), files, request))
        if script.hangs:
            raise BuildFailed(f"docker build did not finish within {timeout:.0f}s (YADOCKERI_BUILD_TIMEOUT); it was stopped\n"
                              + "\n".join(lines[-25:]))
        if script.fails is not None:
            log_line(script.fails)
            raise BuildFailed(f"docker build failed: {script.fails}\n" + "\n".join([*lines, script.fails][-25:]))
        with self._lock:
            self._untag(normal_ref(tag))
            return self.add_image(tag, labels)

    def push(self, ref: str, log_line: Callable[[str], None]) -> None:
        with self._call("push"):
            if self._image(ref) is None:
                raise YadockeriError(f"pushing {ref} failed: An image does not exist locally with the tag: {ref}")
            self.pushed.append(ref)
            self.registry.add(normal_ref(ref))
        log_line(f"The push refers to repository [{ref.rsplit(':', 1)[0]}]")

    def own_image_ids(self) -> set[str]:
        with self._call("own_image_ids"):
            found = set()
            for image in self._images.values():
                if "yadockeri.app" in image["Labels"]:
                    found.add(image["Id"])
                    found.update(d.split("@", 1)[1] for d in image["RepoDigests"] if "@" in d)
            return found

    def images(self, **labels: str) -> list[dict]:
        with self._call("images"):
            return [copy.deepcopy(i) for i in self._images.values() if matches(i["Labels"], labels)]

    def remove_image(self, ref: str) -> bool:
        with self._call("remove_image"):
            image = self._image(ref)
            if image is None:
                return False
            tag = normal_ref(ref)
            last = tag not in image["RepoTags"] or len(image["RepoTags"]) == 1
            user = next((c for c in self._containers if c["ImageID"] == image["Id"]), None)
            if last and user is not None:  # stopped containers hold it too (Swarm retries, then says so)
                raise YadockeriError(f"Docker refused removing image {ref}: conflict: unable to remove repository "
                                     f"reference {ref!r} (must force) - container {user['Id'][:12]} is using its "
                                     "referenced image")
            if tag in image["RepoTags"]:
                self._untag(tag)
            elif len(image["RepoTags"]) > 1:
                raise YadockeriError(f"Docker refused removing image {ref}: conflict: unable to delete {ref} (must be "
                                     "forced) - image is referenced in multiple repositories")
            else:
                del self._images[image["Id"]]
            return True

    def prune_build_cache(self, older_than_seconds: int, keep_bytes: int | None = None) -> int:
        with self._call("prune_build_cache"):
            self.pruned.append((older_than_seconds, keep_bytes))
            return 0

    # Inside -----------------------------------------------------------------------------------
    def _untag(self, tag: str) -> None:
        for image_id, image in list(self._images.items()):
            if tag in image["RepoTags"]:
                image["RepoTags"].remove(tag)
                if not image["RepoTags"] and not any(c["ImageID"] == image_id for c in self._containers):
                    del self._images[image_id]


def _read_folder(folder: Path) -> dict[str, bytes]:
    """The context as BuildKit sends it: every file, but those .dockerignore names (exact paths
    and `*` patterns, the common case)."""
    ignored = (folder / ".dockerignore").read_text().split() if (folder / ".dockerignore").exists() else []
    files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(name, pattern) for pattern in ignored):
            files[name] = path.read_bytes()
    return files


def _steps(dockerfile: bytes) -> list[str]:
    lines = [line.strip() for line in dockerfile.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
