# syntax=docker/dockerfile:1
#
# The faceops image: the controller (`faceops up`), the inference service (`faceops serve`, the
# default) and CPU training attempts. Build it from the repository root:
#
#   docker build -f docker/service.Dockerfile -t ghcr.io/faceops/faceops:<tag> .
#
# Only the npm registry and Debian's mirrors are reached while building. TensorFlow.js' native
# packages are left out (their install scripts download libtensorflow from elsewhere): on CPUs VGG16
# runs on onnxruntime and TensorFlow.js on WebAssembly. The CUDA trainer is docker/trainer.Dockerfile.

FROM node:22.23.2-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node ships its CPU build in the package; its install script would only fetch the CUDA
# provider from nuget.org (package.json's allowScripts denies it to npm 11.16 and later).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: of the production dependencies only @tensorflow/tfjs-node(-gpu) (optional,
# removed below) and onnxruntime-node (skipped) have install scripts; sharp's binaries are packages.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/ scripts/
COPY src/ src/
# onnxruntime-node ships binaries for every OS: only Linux's stay (about 220 MB less).
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && rm -rf node_modules/@tensorflow/tfjs-node node_modules/@tensorflow/tfjs-node-gpu \
    && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d \( -name darwin -o -name win32 \) -exec rm -rf {} + \
    && npm cache clean --force

FROM node:22.23.2-bookworm-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="faceops" \
      org.opencontainers.image.description="Retrain, gate and serve a face classifier whenever photos are pushed to a git repository: controller and inference service." \
      org.opencontainers.image.source="https://github.com/faceops/faceops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:22.23.2-bookworm-slim"

# tini: PID 1 that forwards SIGTERM to node and reaps git's children. git: the controller reads the
# face repository with it; openssh-client for SSH remotes; ca-certificates for HTTPS remotes.
COPY docker/faceops.sh /usr/local/bin/faceops
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && chmod 0755 /usr/local/bin/faceops \
    && groupadd --system --gid 10001 faceops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin faceops

# Everything below belongs to root and is read-only for uid 10001; it writes to /tmp only (an
# emptyDir on Kubernetes, where the root filesystem is read-only) and to the store volume.
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The controller seeds a new repository from examples/faces; int8 VGG16 calibrates on it.
COPY examples/ ./examples/

# faceops listens on 127.0.0.1 by default, which inside a container nobody can reach: the container's
# network namespace is the boundary here, so the service listens on every interface of it.
ENV NODE_ENV=production \
    HOME=/tmp \
    FACEOPS_SERVE_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
# Liveness of `faceops serve` and `faceops up` (both answer /healthz on serve.port) with node itself:
# slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FACEOPS_SERVE_PORT || '8080') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "faceops"]
CMD ["serve"]
