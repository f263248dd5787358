# syntax=docker/dockerfile:1
# Build: wheels, compiled message catalogs and the workbooks checked by pyxform (the
# service user cannot write their kept copies). Run: a slim image as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY conversations ./conversations
COPY storage ./storage
COPY locales ./locales
RUN python -m venv /opt/warga \
 && /opt/warga/bin/pip install --no-cache-dir . \
 && WARGA_LOCALES_DIR=/src/locales /opt/warga/bin/warga i18n compile \
 && /opt/warga/bin/python -m conversations.forms

FROM python:3.11-slim
# /data holds the database and photos: the service user's alone. The secret key is not
# kept there (WARGA_SECRET_KEY, or WARGA_SECRET_KEY_FILE=/run/secrets/warga_key).
RUN useradd --create-home --uid 10001 warga \
 && mkdir -p /data && chown warga:warga /data && chmod 0700 /data
COPY --from=build /opt/warga /opt/warga
COPY --from=build --chown=warga:warga /src/locales /app/locales
ENV PATH=/opt/warga/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WARGA_LOCALES_DIR=/app/locales \
    WARGA_HOST=0.0.0.0 \
    WARGA_PORT=8080 \
    WARGA_DATA_DIR=/data \
    WARGA_DATABASE_URL=sqlite+aiosqlite:////data/warga.db
WORKDIR /app
USER warga
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
CMD ["warga", "serve"]
