#!/usr/bin/env bash
# Builds the pinned kube-apiserver (the real Kubernetes API server, for the autoscaler's tests
# against it) from the Go modules of k8s.io/kubernetes, through the wrapper module in
# deploy/kube-apiserver (its go.mod pins the release and replaces each staging module by its
# published version), unless that version is already built. Prints the binary's path.
#
#   scripts/install-kube-apiserver.sh           build when missing (long the first time: about
#                                               half an hour on two cores, at nice 19), print path
#   scripts/install-kube-apiserver.sh --check   print the path if that version is built, else
#                                               say how to build it and exit 1 (never builds)
#
# Safe to rerun: a second run only checks the version. Go keeps its build cache, so a rebuild
# after a change of flags is quick.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE_DIR="$ROOT/deploy/kube-apiserver"
KUBE_VERSION="$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$MODULE_DIR/go.mod")"
[ -n "$KUBE_VERSION" ] || { echo "install-kube-apiserver: no k8s.io/kubernetes version in $MODULE_DIR/go.mod" >&2; exit 1; }
command -v go >/dev/null || { echo "install-kube-apiserver: Go is required to build kube-apiserver ${KUBE_VERSION}" >&2; exit 1; }
bin="$(go env GOPATH)/bin/kube-apiserver-${KUBE_VERSION}"

built() { [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "Kubernetes ${KUBE_VERSION}"; }
if built; then
  echo "$bin"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "install-kube-apiserver: kube-apiserver ${KUBE_VERSION} is not built at $bin: run scripts/setup.sh (or scripts/install-kube-apiserver.sh)" >&2
  exit 1
fi

# The version the binary reports (and the compatibility version it derives), as a release
# build sets it; -s -w leaves out the symbol tables (about 40% smaller).
pkg=k8s.io/component-base/version
minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
major="${KUBE_VERSION#v}"; major="${major%%.*}"
ldflags="-s -w -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
echo "install-kube-apiserver: building kube-apiserver ${KUBE_VERSION} with go build at nice 19 (up to about half an hour the first time)" >&2
mkdir -p "$(dirname "$bin")"
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
(cd "$MODULE_DIR" && GOFLAGS=-mod=readonly nice -n 19 go build -buildvcs=false -o "$tmp" -ldflags "$ldflags" k8s.io/kubernetes/cmd/kube-apiserver) >&2
mv "$tmp" "$bin"
built || { echo "install-kube-apiserver: $bin does not report Kubernetes ${KUBE_VERSION}" >&2; exit 1; }
echo "install-kube-apiserver: built in $((SECONDS - start)) s" >&2
echo "$bin"
