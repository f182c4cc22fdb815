# The kong-siem aggregator. Build from the repository root:
#   docker build -t kong-siem-aggregator .
# `node` runs the server directly (not `npm start`): npm does not pass SIGTERM
# on, and the aggregator's graceful shutdown depends on receiving it.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY common ./common
COPY aggregator ./aggregator
COPY cli ./cli
COPY bin ./bin
COPY ui ./ui
RUN npx tsc -p tsconfig.json && npx tsc -p ui/tsconfig.json && cp -r ui/static/. dist/ui/ \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production SIEM_HOST=0.0.0.0 SIEM_PORT=9457
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
USER node
EXPOSE 9457
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SIEM_PORT||9457)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/aggregator/server.js"]
