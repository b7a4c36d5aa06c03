#!/usr/bin/env bash
# Installs what berth needs to build, test and benchmark on Debian 12, as root. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential curl ca-certificates busybox-static iproute2 nftables iptables iperf3 crun runc hyperfine python3 python3-pip time xz-utils bzip2 git docker-registry apache2-utils skopeo gzip podman podman-compose util-linux
  containerd containernetworking-plugins protobuf-compiler python3-grpcio python3-protobuf
  mmdebstrap debian-archive-keyring)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
