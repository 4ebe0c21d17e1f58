# syntax=docker/dockerfile:1
# Loupe API and worker: one image, two commands (`serve`, `worker`). See docs/production.md.

# 1. Production dependencies only. The CLI runs the TypeScript sources through tsx, a production dependency, so
#    there is no build step and no dev dependency in the image. onnxruntime-node's post-install (CUDA download) is
#    skipped: the CPU binaries ship in the package.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev && npm cache clean --force

# 2. Runtime: the sources and models on top of the installed modules, owned by root and read-only for the
#    unprivileged `loupe` user the processes run as; only /data (SQLite, staging, overlay cache) is writable.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOUPE_DATA_DIR=/data \
    MODELS_DIR=/app/models
WORKDIR /app
RUN groupadd --system --gid 10001 loupe \
 && useradd --system --uid 10001 --gid loupe --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin loupe \
 && mkdir -p /data && chown loupe:loupe /data
COPY --from=deps /app/node_modules ./node_modules
# The allowlist in .dockerignore decides what this copies: api, cli, core, datasets, models, pipeline, workers.
COPY . .
USER loupe:loupe
VOLUME ["/data"]
EXPOSE 3000
# Readiness (Redis, database, an active model), not just liveness: an instance that cannot serve is reported unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tuned-node.sh: glibc keeps freed memory mapped (see the script); it execs node, so node is still PID 1.
ENTRYPOINT ["sh", "cli/bin/tuned-node.sh", "cli/bin/loupe.js"]
CMD ["serve"]
