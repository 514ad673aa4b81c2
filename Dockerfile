# One image for every Python service of Liên Ngành; the command picks the process:
#   python -m <service> api --host 0.0.0.0 --port 8000   (cases, referrals, notifications,
#   python -m <service> worker                            reporting, agencies with AGENCY=<code>)
#   lienganh topics --bootstrap kafka:9092                (one-shot topic creation)
# Dependencies come from uv.lock only (`uv sync --frozen`); nothing is resolved at build time.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same uv as the Makefile's UV_VERSION.
RUN pip install uv==0.13.9
WORKDIR /src

# Third-party dependencies first: this layer changes only when uv.lock does.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY chassis/pyproject.toml chassis/
COPY deploy/local/pyproject.toml deploy/local/
COPY services/cases/pyproject.toml services/cases/
COPY services/referrals/pyproject.toml services/referrals/
COPY services/agencies/pyproject.toml services/agencies/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/reporting/pyproject.toml services/reporting/
RUN uv sync --frozen --no-dev --no-install-workspace

# Then the workspace itself, installed as wheels (not editable) so /src is not needed at run time.
COPY contracts contracts
COPY chassis chassis
COPY deploy/local deploy/local
COPY services services
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# A fixed, unprivileged uid/gid: Kubernetes `runAsUser: 10001` and compose use the same.
RUN groupadd --system --gid 10001 lienganh \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/lienganh \
       --no-create-home --shell /usr/sbin/nologin lienganh \
    && mkdir -p /var/lib/lienganh /etc/lienganh/keys \
    && chown -R 10001:10001 /var/lib/lienganh /etc/lienganh/keys
COPY --from=build /app/.venv /app/.venv
# Two malloc arenas, not eight a core: less memory kept by each thread (localrun.process_env).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
WORKDIR /var/lib/lienganh
USER 10001:10001
# 8000: the API (/docs, /healthz, /readyz, /metrics); 8080: the worker's ops endpoints.
EXPOSE 8000 8080
CMD ["python", "-m", "cases", "api", "--host", "0.0.0.0", "--port", "8000"]
