# yadockeri itself: `yadockeri bot` as a swarm service on a manager, with the Docker socket
# mounted (`yadockeri install`, deploy/yadockeri-stack.yml, docs/install.md).
#
#   docker build -t yadockeri/yadockeri:latest .
#
# With no network inside the build (how the tests build it on machines without a registry):
#   scripts/wheelhouse.sh        # wheels of yadockeri's dependencies into .wheelhouse/ (on the host)
#   docker build --network none \
#     --build-arg BASE_IMAGE=<a local Debian/Python 3.11 image with python3-venv, git, ssh> \
#     --build-arg DOCKER_CLI_IMAGE=<a local image with the docker CLI at /usr/local/bin/docker> \
#     -t yadockeri/yadockeri:latest .
ARG BASE_IMAGE=python:3.11-slim
ARG DOCKER_CLI_IMAGE=docker:24-cli

# The docker CLI, for `docker stack deploy` of the stacks' middleware and BuildKit builds (a CLI
# of 23 or later builds with BuildKit through its buildx plugin, which the docker:*-cli images have).
FROM ${DOCKER_CLI_IMAGE} AS docker-cli

FROM ${BASE_IMAGE} AS build
# .wheelhouse/ when the context has one (then pip needs no index); .dockerignore is always there.
COPY .dockerignore .wheelhouse* /wheels/
COPY pyproject.toml README.md /app/
COPY stacks /app/stacks
COPY bot /app/bot
COPY yadockeri /app/yadockeri
COPY api /app/api
COPY migrations /app/migrations
RUN python3 -m venv /opt/yadockeri \
 && if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/yadockeri/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels -e /app; \
    else \
      /opt/yadockeri/bin/pip install --no-cache-dir --disable-pip-version-check -e /app; \
    fi

FROM ${BASE_IMAGE}
# git (and ssh, for git@ repositories) only if the base lacks them: an offline base brings its own.
RUN if ! command -v git >/dev/null || ! command -v ssh >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git openssh-client ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=docker-cli /usr/local/libexec/docker/cli-plugins /usr/local/libexec/docker/cli-plugins
COPY --from=build /opt/yadockeri /opt/yadockeri
COPY --from=build /app /app
# The router's build context and the example app are read from yadockeri's own tree.
COPY router /app/router
COPY examples /app/examples
ENV PATH=/opt/yadockeri/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    YADOCKERI_DATA_DIR=/data
WORKDIR /app
EXPOSE 3000
# Migrations are applied at start (the store runs them). Unhealthy when the bot does not serve:
# HTTP mode not listening, or Socket Mode not connected to Slack (GET /healthz on the bot port).
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 CMD ["python", "-m", "yadockeri.health"]
CMD ["yadockeri", "bot"]
