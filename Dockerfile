# mtls-guard: the admission webhook image. Multi-stage: compile with dev dependencies, install production
# dependencies apart, and run on a distroless Node LTS base: no shell, no npm, no package manager.
#
# Bases are pinned by digest (a tag can move; a digest cannot). Both digests are the ones published for these
# tags and pinned, identically, by many public repositories:
#   node:24.11.1-bookworm-slim                 sha256:48abc13a19400ca3985071e287bd405a1d99306770eb81d61202fb6b65cf0b57
#   gcr.io/distroless/nodejs24-debian12        sha256:61f4f4341db81820c24ce771b83d202eb6452076f58628cd536cc7d94a10978b
# To move to a newer patch: `docker buildx imagetools inspect IMAGE:TAG`, then replace tag and digest together.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim@sha256:48abc13a19400ca3985071e287bd405a1d99306770eb81d61202fb6b65cf0b57
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12@sha256:61f4f4341db81820c24ce771b83d202eb6452076f58628cd536cc7d94a10978b

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="mtls-guard" \
      org.opencontainers.image.description="Validating admission webhook that keeps Istio mutual TLS honest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
ENV NODE_ENV=production
# distroless keeps node in /nodejs/bin, off the default PATH: the helm test hook runs `node` from this image.
ENV PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY examples ./examples
# A numeric non-root user (distroless's nonroot); nothing is written at run time, so the root filesystem can be
# read-only.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli.js", "serve"]
