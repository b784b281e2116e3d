# mtls-guard: the admission webhook image. Multi-stage: build with dev dependencies, run with production ones.
# Node 24 is an LTS line; pin the exact patch you have validated.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force && rm -rf /root/.npm
COPY --from=build /src/dist/src ./dist/src
COPY examples ./examples
# A numeric non-root user (no entry in /etc/passwd needed); nothing is written at run time,
# so the root filesystem can be read-only.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "/app/dist/src/cli.js", "serve"]
