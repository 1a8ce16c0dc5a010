"""The engine's one exception root.

Docker, git and database errors are translated into these at the boundary, with a message
a user can act on. Front ends print `str(error)`; they never show a stack trace.
"""


class YadockeriError(Exception):
    """Anything the engine refuses or fails at, said in words a user can act on."""


class UsageError(YadockeriError):
    """The words of a command are wrong (unknown verb, missing argument, bad option)."""


class InvalidName(YadockeriError):
    """A stack name, branch, app name or env key that is not allowed."""


class NotFound(YadockeriError):
    """No such stack, app, process or deployment."""


class PermissionDenied(YadockeriError):
    """The caller may not do this to this stack."""


class ConfigError(YadockeriError):
    """yadockeri's own configuration is wrong."""


class GitError(YadockeriError):
    """A repository could not be fetched or read."""


class BranchNotFound(GitError):
    """The branch does not exist in the app's repository."""


class SpecError(YadockeriError):
    """The app's .yadockeri.yml or its compose file is invalid or refused."""


class BuildFailed(YadockeriError):
    """docker build failed; the message ends with the build's last lines."""


class ReleaseFailed(YadockeriError):
    """The release command exited non-zero; the message ends with its output."""


class DeployFailed(YadockeriError):
    """A process did not start or the web process did not answer through the router."""


class DockerUnavailable(YadockeriError):
    """The Docker daemon cannot be reached, or it is not a swarm manager."""


class Interrupted(YadockeriError):
    """The process running a deployment died; the deployment was marked interrupted."""


class CapacityReached(YadockeriError):
    """No address is left on the router network for one more web process."""


class LimitReached(YadockeriError):
    """A new stack would pass YADOCKERI_MAX_STACKS or YADOCKERI_MAX_STACKS_PER_OWNER; nothing was made."""

    def __init__(self, message: str, *, setting: str, limit: int) -> None:
        super().__init__(message)
        self.setting = setting  # the variable's name, YADOCKERI_MAX_STACKS...
        self.limit = limit
