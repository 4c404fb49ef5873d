#!/bin/sh
# `faceops` inside the images: node running the built CLI. Kubernetes' `command: ["faceops"]` replaces
# the image's ENTRYPOINT (tini), so when this script is PID 1 it puts tini in front: PID 1 then reaps
# git's orphaned children and passes SIGTERM on to node, which shuts down gracefully.
set -eu
main="${FACEOPS_MAIN:-/app/dist/cli/main.js}"
if [ "$$" = 1 ] && command -v tini >/dev/null 2>&1; then
  exec tini -- node "$main" "$@"
fi
exec node "$main" "$@"
