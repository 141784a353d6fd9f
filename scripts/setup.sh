#!/usr/bin/env bash
# Installs everything shoal needs on a fresh Debian machine with Node.js and apt. Safe to rerun.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Debian packages the tests and benchmarks drive: the NATS server, the third-party BitTorrent
# tools that act as golden references and interop peers, and etcd (the store of the real
# kube-apiserver the autoscaler is tested against).
apt_packages=(nats-server aria2 transmission-cli mktorrent opentracker python3-libtorrent openssl iproute2 nginx-light curl etcd-server)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "shoal setup: installing Debian packages: ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cd "$ROOT"
pnpm install --frozen-lockfile --reporter=silent
bash "$ROOT/scripts/install-helm.sh" >/dev/null  # helm for the chart tests in deploy/
# kube-apiserver for the autoscaler's tests against a real API server (built from the Kubernetes
# Go modules: up to about half an hour on two cores the first time, seconds after that).
bash "$ROOT/scripts/install-kube-apiserver.sh" >/dev/null
