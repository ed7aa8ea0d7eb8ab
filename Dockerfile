# The QueueLabs image: one image, every part (`queuelabs allocator`, `uploader`, `sandbox`,
# `migrate`), chosen by the command. Built with uv from the lock file; runs as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system
RUN pip install --no-cache-dir uv
WORKDIR /app
# Dependencies first, in their own layer: they change less often than the code.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY protos ./protos
COPY queuelabs ./queuelabs
COPY allocator ./allocator
COPY uploader ./uploader
COPY sandbox ./sandbox
COPY commands ./commands
RUN uv sync --locked --no-dev

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin queuelabs
WORKDIR /app
COPY --from=build --chown=queuelabs:queuelabs /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1
USER queuelabs
# gRPC: Allocator 50051, Uploader 50052; HTTP: sandbox 50053, metrics 9101 and 9102.
EXPOSE 50051 50052 50053 9101 9102
ENTRYPOINT ["queuelabs"]
CMD ["--help"]
