# The worker and review app image: same system packages as CI (scripts/install.sh --runtime), non-root user.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_THREAD_LIMIT=1 \
    INTAKE_DATA_DIR=/var/lib/intake PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY scripts/install.sh scripts/install.sh
RUN bash scripts/install.sh --runtime && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY models models
COPY worker worker
RUN pip install .
# the synthetic-document generator is not in the wheel; `intake demo` and `intake samples` (the image's smoke
# test) import it from here
COPY fixtures /opt/land-intake/fixtures
ENV PYTHONPATH=/opt/land-intake

RUN useradd --create-home --uid 10001 --user-group intake && mkdir -p /var/lib/intake && chown 10001 /var/lib/intake
# numeric, so Kubernetes' runAsNonRoot can verify it (deploy/k8s runs as 10001 too)
USER 10001
VOLUME ["/var/lib/intake"]
EXPOSE 8000 9100

ENTRYPOINT ["intake"]
CMD ["worker"]
