"""A sample app repository made by a test: busybox httpd with a CGI page, built offline from
busybox:latest (scripts/offline-images.sh). Each test shapes it with plain files and commits."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

INDEX_CGI = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "content=$(cat /www/content.txt)"
echo "greeting=${GREETING:-none}"
echo "branch=$YADOCKERI_BRANCH"
echo "host=$HTTP_HOST"
# A secret's digest, never the secret: tests check the app sees the value without printing it.
if [ -n "$SECRET_TOKEN" ]; then echo "secret_sha256=$(printf %s "$SECRET_TOKEN" | sha256sum | cut -d' ' -f1)"; fi
# busybox-static 1.35 wget crashes with -T, so `timeout` bounds it instead.
if [ -n "$MIDDLEWARE_URL" ]; then echo "middleware=$(timeout 5 wget -q -O - "$MIDDLEWARE_URL" 2>&1)"; fi
if [ -f /data/released ]; then echo "released=yes"; fi
"""

DOCKERFILE = """\
FROM busybox:latest
COPY www /www
RUN chmod +x /www/cgi-bin/index.cgi
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""

SPEC = """\
processes:
  web: {command: "echo web-started-$YADOCKERI_STACK; exec httpd -f -v -p $PORT -h /www"}
env:
  GREETING: from-spec
"""


class SampleRepo:
    """A git repository on disk with a branch per test scenario."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.write({
            "Dockerfile": DOCKERFILE,
            ".yadockeri.yml": SPEC,
            "www/cgi-bin/index.cgi": INDEX_CGI,
            "www/content.txt": "main-1",
        })
        self.commit("first")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True, text=True, check=True,
        )
        return result.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text) if text.startswith("\n") else text)

    def remove(self, name: str) -> None:
        self.git("rm", "--quiet", "-r", name)

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, *, start: str = "main") -> None:
        self.git("checkout", "--quiet", "-B", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "--quiet", name)
