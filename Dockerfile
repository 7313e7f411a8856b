# The envparity images, built from one file:
#   --target collector  the central service (envparity[collector]); the default target
#   --target agent      the sidecar proxy and node agent (envparity[agent,proxy]): no DuckDB, SciPy or FastAPI
# Wheels are built in a builder stage from the pinned constraints; the final stages hold the Python
# runtime and a virtual environment only (no compiler, no pip, no sources), and run as uid 10001.
# Without a Docker engine: scripts/build-image.sh (buildah, with a base image made from Debian packages).
ARG BASE=python:3.11-slim-bookworm
ARG BUILDER_BASE=python:3.11-slim-bookworm

FROM ${BUILDER_BASE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /build
WORKDIR /src
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY envparity ./envparity
COPY agent ./agent
COPY collector ./collector
RUN /build/bin/pip wheel --wheel-dir /wheels -c constraints.txt ".[collector,proxy]"

# One virtual environment per image, installed offline from the wheels, pip and setuptools removed.
FROM builder AS venv-collector
RUN python3 -m venv /opt/envparity \
 && /opt/envparity/bin/pip install --no-index --find-links /wheels -c constraints.txt "envparity[collector]" \
 && /opt/envparity/bin/pip uninstall -y pip setuptools

FROM builder AS venv-agent
RUN python3 -m venv /opt/envparity \
 && /opt/envparity/bin/pip install --no-index --find-links /wheels -c constraints.txt "envparity[agent,proxy]" \
 && /opt/envparity/bin/pip uninstall -y pip setuptools

FROM ${BASE} AS runtime
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin envparity
ENV PATH=/opt/envparity/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
LABEL org.opencontainers.image.source="https://github.com/envparity/envparity" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["envparity"]

FROM runtime AS agent
COPY --from=venv-agent /opt/envparity /opt/envparity
RUN install -d -o 10001 -g 10001 /var/spool/envparity
ENV ENVPARITY_SPOOL_DIR=/var/spool/envparity
USER 10001:10001
CMD ["agent", "run"]

FROM runtime AS collector
COPY --from=venv-collector /opt/envparity /opt/envparity
RUN install -d -o 10001 -g 10001 /var/lib/envparity
USER 10001:10001
EXPOSE 8400
CMD ["collector", "serve", "--db", "/var/lib/envparity/envparity.duckdb", "--host", "0.0.0.0", \
     "--tokens-file", "/etc/envparity/tokens.yaml"]
