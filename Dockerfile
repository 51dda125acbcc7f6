# Lifeboat web, worker and beat image (one image, three commands; see compose.yaml).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# pg_dump / pg_restore for scripts/lifeboat-state (Lifeboat's own backups, docs/operations.md);
# Debian trixie's client is 17, as compose.yaml's postgres:17.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 lifeboat
WORKDIR /app

COPY . /app
RUN pip install -c requirements.lock -e . \
 && STATIC_MANIFEST=True LIFEBOAT_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var \
 && mkdir -p /app/var /app/blobs \
 && chown lifeboat:lifeboat /app/var /app/blobs

ENV STATIC_MANIFEST=True
USER lifeboat
VOLUME ["/app/var", "/app/blobs"]
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--config", "portal/gunicorn_conf.py"]
