# The QueueLabs image: one image, every part (`queuelabs allocator`, `uploader`, `sandbox`,
# `migrate`, `check`, `health`), chosen by the command. Built with a pinned uv from the lock file,
# without the development tools (no embedded PostgreSQL, no grpcio-tools, no test tools); runs as
# a numeric non-root user.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first, in their own layer: they change less often than the code.
COPY pyproject.toml uv.lock README.md ./
COPY protos/python/pyproject.toml protos/python/README.md ./protos/python/
RUN uv sync --locked --no-dev --no-install-workspace
COPY protos ./protos
COPY queuelabs ./queuelabs
COPY allocator ./allocator
COPY uploader ./uploader
COPY sandbox ./sandbox
COPY commands ./commands
COPY migrations ./migrations
RUN uv sync --locked --no-dev --no-editable

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 queuelabs \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin queuelabs
WORKDIR /app
COPY --from=build --chown=10001:10001 /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1
USER 10001:10001
# gRPC: Allocator 50051, Uploader 50052; HTTP: sandbox 50053, metrics 9101 and 9102.
EXPOSE 50051 50052 50053 9101 9102
# The gRPC health check of the service this container runs (its ALLOCATOR_LISTEN or
# UPLOADER_LISTEN); docker-compose.yml sets the sandbox's own and none for `migrate`.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["queuelabs", "health"]
ENTRYPOINT ["queuelabs"]
CMD ["--help"]
