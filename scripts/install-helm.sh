#!/usr/bin/env bash
# Installs the pinned Helm 3 (built from its Go module; the deploy tests run `helm lint` and
# `helm template`) unless that version is already installed. Prints the helm binary's path.
# Safe to rerun: a second run only checks the version.
set -euo pipefail
HELM_VERSION=v3.22.0
command -v go >/dev/null || { echo "install-helm: Go is required to build helm ${HELM_VERSION}" >&2; exit 1; }
bin="$(go env GOPATH)/bin/helm"
if [ -x "$bin" ] && "$bin" version --template '{{.Version}}' 2>/dev/null | grep -qx "${HELM_VERSION%.*}\|${HELM_VERSION}"; then
  echo "$bin"
  exit 0
fi
echo "install-helm: building helm ${HELM_VERSION} with go install (a few minutes the first time)" >&2
GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
echo "$bin"
