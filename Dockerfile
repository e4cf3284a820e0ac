# LetsApp: the compiled build (npm run build) on Node 20, run as a non-root user.
# Build: docker build -t letsapp .    Run: see README "Operating" (secrets and STORAGE_DIR are the operator's).

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Native modules (better-sqlite3, bcrypt, sharp) build or fetch their binaries here, once.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production STORAGE_DIR=/var/lib/letsapp PORT=5001 WS_PORT=5002
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/letsapp && chown node:node /var/lib/letsapp
USER node
VOLUME /var/lib/letsapp
EXPOSE 5001 5002
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM reaches node directly (no shell): the graceful shutdown runs within SHUTDOWN_GRACE_MS.
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "dist/main.js"]
