# One image for both roles: ROLE=api or ROLE=worker picks what a container does.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8000
# Liveness only; orchestrators point readiness at /ready (see docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SERVER_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The same heap bounds as `npm start` (the benchmark measures with them): a small young generation and a
# capped old one keep RSS near 140 MiB under load without costing throughput.
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "dist/main.js"]
