# syntax=docker/dockerfile:1
#
# The GPU trainer: the image Kubernetes training Jobs run (`faceops attempt ...`), with VGG16 on
# TensorFlow.js' CUDA engine (@tensorflow/tfjs-node-gpu). Build it from the repository root:
#
#   docker build -f docker/trainer.Dockerfile -t ghcr.io/faceops/faceops-trainer:<tag> .
#
# Versions, as checked:
# - @tensorflow/tfjs-node-gpu 4.22.0 (package-lock.json) loads libtensorflow 2.9.1
#   (LIBTENSORFLOW_VERSION in the package's scripts/deps-constants.js).
# - Its README asks for CUDA Toolkit 11.2, cuDNN SDK 8.1.0 and an NVIDIA driver > 450.x, which is
#   TensorFlow 2.9's tested GPU build configuration (CUDA 11.2, cuDNN 8.1).
# - nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 holds the CUDA 11.2.2 runtime libraries and
#   libcudnn8 8.1.1.33-1+cuda11.2 (NV_CUDNN_VERSION in NVIDIA's dist/11.2.2/ubuntu2004 Dockerfiles).
# - The package's prebuilt binding targets N-API 8, which Node 22 (N-API 9 and 10) still loads.
# Node is the official linux-x64 tarball of 22.23.2, checked against its published SHA-256.

FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS base
ARG DEBIAN_FRONTEND=noninteractive
ARG NODE_VERSION=22.23.2
ARG NODE_SHA256=d60acfe00a2932254bb0ad20e01b0d74397a0875595de719654b214f4b03f307
# The CUDA libraries are installed (and held) already; only Ubuntu's archive is needed from here, so
# NVIDIA's apt source, whose signing key was rotated since the image was made, is dropped.
RUN rm -f /etc/apt/sources.list.d/cuda*.list /etc/apt/sources.list.d/nvidia-ml*.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl xz-utils git openssh-client tini \
    && curl -fsSL -o /tmp/node.tar.xz "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
    && echo "${NODE_SHA256}  /tmp/node.tar.xz" | sha256sum -c - \
    && tar -xJf /tmp/node.tar.xz -C /usr/local --strip-components=1 --no-same-owner \
    && rm /tmp/node.tar.xz \
    && apt-get purge -y --auto-remove curl xz-utils \
    && rm -rf /var/lib/apt/lists/* \
    && node --version \
    && npm --version

FROM base AS build
ARG DEBIAN_FRONTEND=noninteractive
# node-pre-gyp falls back to compiling tfjs-node-gpu's binding when no prebuilt one is found.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# Install scripts run for @tensorflow/tfjs-node-gpu alone (it downloads libtensorflow 2.9.1 for
# CUDA); the CPU package @tensorflow/tfjs-node is not wanted here. Both are optional dependencies, so
# npm would carry on without them: the binding and the library are checked explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && npm rebuild @tensorflow/tfjs-node-gpu \
    && rm -rf node_modules/@tensorflow/tfjs-node \
    && test -f node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2.9.1 \
    && node -e "const f = require('@mapbox/node-pre-gyp').find(require.resolve('@tensorflow/tfjs-node-gpu/package.json')); require('fs').accessSync(f); console.log(f)"
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/ scripts/
COPY src/ src/
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 -type d \( -name darwin -o -name win32 \) -exec rm -rf {} + \
    && npm cache clean --force

FROM base AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="faceops-trainer" \
      org.opencontainers.image.description="faceops training attempts on NVIDIA GPUs (TensorFlow.js, CUDA 11.2, cuDNN 8.1)." \
      org.opencontainers.image.source="https://github.com/faceops/faceops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04"
COPY docker/faceops.sh /usr/local/bin/faceops
RUN chmod 0755 /usr/local/bin/faceops \
    && groupadd --system --gid 10001 faceops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin faceops
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY examples/ ./examples/
# A training attempt (`faceops attempt`) opens no port, so the image exposes none and leaves
# serve.host at its default, 127.0.0.1.
ENV NODE_ENV=production \
    HOME=/tmp \
    FACEOPS_ENGINE=tfjs-node-gpu
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["faceops"]
CMD ["--help"]
