# syntax=docker/dockerfile:1
#
# Switchyard gateway image: `docker build -t switchyard .`, then
#   docker run --rm -p 8080:8080 -e ANTHROPIC_API_KEY switchyard
# runs config/switchyard.yaml (mount another file and set SWITCHYARD_CONFIG to change it).
#
# Node.js LTS: 24 ("Krypton", maintained until 2028-04-30). 26 ("Lithium") is also LTS from
# October 2026: `--build-arg NODE_VERSION=26` builds on it.
ARG NODE_VERSION=24

# --- build: the full dependency tree, compile TypeScript to dist/ ------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script to build (esbuild's, a tsx dependency, is not used here).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- prod-deps: production dependencies only ----------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=8080
WORKDIR /app
# Owned by root, read-only for the process: the gateway writes nothing to disk (logs go to stdout).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
# The image's unprivileged user (uid 1000).
USER node
EXPOSE 8080
# `docker stop` sends SIGTERM to node, which is PID 1 and handles it itself (src/serve.ts): /readyz
# turns 503, the listener closes, in-flight streams get server.drainMs (30 s by default) to finish,
# then the process exits 0. Give the container longer than drainMs before Docker's SIGKILL
# (`docker stop -t 45`, compose's stop_grace_period). No tini: the gateway starts no child processes,
# so there are no zombies to reap, and SIGINT and SIGTERM both have handlers.
STOPSIGNAL SIGTERM
# Liveness, without curl (slim images have none). The load balancer checks /readyz itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
