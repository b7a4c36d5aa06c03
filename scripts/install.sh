#!/usr/bin/env bash
# Installs berth, berth-runtime and berth-monitor (release build) into PREFIX/bin.
#
#   scripts/install.sh [--prefix DIR] [--as-docker] [--no-build] [--from DIR]
#
# --prefix DIR   where to install (default /usr/local): binaries go to DIR/bin.
# --as-docker    also make DIR/bin/docker and DIR/bin/docker-compose symlinks to berth, so
#                scripts that call `docker ...` and the seed's `docker-compose up` run on berth.
#                Never over an existing Docker: if either name already exists in DIR/bin and
#                is not berth, nothing is installed and the script says why.
# --no-build     install target/x86_64-unknown-linux-gnu/release/* as they are (default:
#                cargo build --release first).
# --from DIR     install the binaries found in DIR instead (implies --no-build; tests use it).
#
# The three binaries must sit side by side: berth starts containers through berth-runtime
# and hands detached containers to berth-monitor found beside its own executable.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
as_docker=0
build=1
from=$repo/target/x86_64-unknown-linux-gnu/release
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a directory" >&2; exit 2; }
                  prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --as-docker) as_docker=1; shift ;;
        --no-build) build=0; shift ;;
        --from) [ $# -ge 2 ] || { echo "install: --from needs a directory" >&2; exit 2; }
                from=$2; build=0; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "install: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
bin=$prefix/bin
bins=(berth berth-runtime berth-monitor)

# Is PATH (a file or symlink) berth? True for a link to any file named berth, or a file with
# berth's own --version line.
is_berth() {
    local target
    target=$(readlink -f "$1" 2>/dev/null) || return 1
    [ "$(basename "$target")" = berth ] && return 0
    "$target" --version 2>/dev/null | head -n 1 | grep -q '^berth '
}

# Refuse before touching anything.
if [ "$as_docker" = 1 ]; then
    for name in docker docker-compose; do
        if [ -e "$bin/$name" ] || [ -L "$bin/$name" ]; then
            if ! is_berth "$bin/$name"; then
                echo "install: $bin/$name already exists and is not berth ($(readlink -f "$bin/$name" 2>/dev/null || echo "$bin/$name"))." >&2
                echo "install: berth will not replace an existing Docker. Remove it yourself, or install berth" >&2
                echo "install: under another prefix (--prefix DIR) and put DIR/bin first in PATH." >&2
                exit 1
            fi
        fi
    done
fi

if [ "$build" = 1 ]; then
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || { echo "install: cargo not found (scripts/setup.sh installs it, or use --no-build)" >&2; exit 1; }
    (cd "$repo" && cargo build --release -q --bin berth --bin berth-runtime --bin berth-monitor)
fi
for b in "${bins[@]}"; do
    [ -x "$from/$b" ] || { echo "install: $from/$b is missing (cargo build --release)" >&2; exit 1; }
done

mkdir -p "$bin"
for b in "${bins[@]}"; do
    # Copy beside, then rename: a running berth keeps its old inode, none sees half a file.
    install -m 0755 "$from/$b" "$bin/.$b.new"
    mv -f "$bin/.$b.new" "$bin/$b"
    echo "installed $bin/$b"
done

if [ "$as_docker" = 1 ]; then
    for name in docker docker-compose; do
        ln -sfn berth "$bin/.$name.new"
        mv -Tf "$bin/.$name.new" "$bin/$name"
        echo "linked    $bin/$name -> berth"
    done
    found=$(command -v docker 2>/dev/null || true)
    if [ -n "$found" ] && [ "$found" != "$bin/docker" ]; then
        echo "install: note: \`docker\` on your PATH is $found, not $bin/docker: put $bin first in PATH" >&2
    fi
fi
"$bin/berth" --version
