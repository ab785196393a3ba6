# One image for every Homeward service; docker-compose.yml and deploy/k8s give
# each container its own command (python -m homeward.topology apply,
# python -m homeward_intake, homeward_fanout, homeward_referrals,
# homeward_detector, homeward_agency).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A regular (non-editable) install: the package lands in site-packages, where
# homeward/paths.py can no longer find schemas/ and topology/ next to its
# source, so the image keeps them at /app and says where they are.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services/ services/
RUN pip install --no-cache-dir . \
    && rm -rf /src

WORKDIR /app
COPY schemas/ /app/schemas/
COPY topology/ /app/topology/
# The demo's fictional agency directory; a site mounts its own and points
# HOMEWARD_FANOUT_DIRECTORY at it.
COPY deploy/demo/ /app/deploy/demo/

ENV HOMEWARD_SCHEMA_DIR=/app/schemas/avro \
    HOMEWARD_RELEASED_SCHEMA_DIR=/app/schemas/released \
    HOMEWARD_TOPOLOGY_FILE=/app/topology/topics.yaml \
    FAUST_DATADIR=/var/lib/homeward/{conf.name}-data

# Non-root, numeric so Kubernetes can check runAsNonRoot. The code stays
# root-owned and read-only; the only writable place is Faust's data directory
# (the fan-out keeps its state in Kafka, but Faust still creates this).
RUN groupadd --system --gid 10001 homeward \
    && useradd --system --uid 10001 --gid homeward --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin homeward \
    && mkdir -p /var/lib/homeward \
    && chown homeward:homeward /var/lib/homeward
USER 10001:10001

# intake's and the agency gateway's HTTP APIs (with /metrics); the fan-out's, the referral router's and
# the detector's /metrics, /healthz and /readyz (HOMEWARD_*_METRICS_PORT).
EXPOSE 8080 8090 9101 9102 9103 9104
