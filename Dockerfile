# syntax=docker/dockerfile:1
# Build: wheels for every pinned dependency in a throwaway stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# Run: the app, its wheels and collected static files; no compilers, no secrets.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels
COPY --chown=app:app . .
# collectstatic needs settings to import; a throwaway key is used for this step only.
RUN SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/x.sqlite3 \
    python manage.py collectstatic --noinput -v0
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "scripts/healthcheck.py"]
# Which Procfile line runs where on Cloud Run, all from this image (honcho is a dev tool,
# not installed here):
#   web      this CMD, the Procfile's web line bound to 0.0.0.0:$PORT (Cloud Run sets
#            PORT): the Cloud Run service.
#   deploys  python manage.py rqworker deploys
#   worker   python manage.py rqworker default billing --with-scheduler --worker-class rq.worker.Worker
#   cron     python manage.py rqcron platform_admin.cron
#            These three: one Cloud Run worker pool (or second service) per line, with the
#            container command and args set to the line, or all on a small VM. cron: one
#            instance is enough, two are harmless.
#   python manage.py migrate runs as a Cloud Run job before each release.
CMD exec gunicorn platform_admin.wsgi:application --bind 0.0.0.0:${PORT} \
    --worker-class sync --workers ${WEB_CONCURRENCY:-5} --timeout ${WEB_TIMEOUT:-0} --access-logfile -
