#!/usr/bin/env bash
# berth's main job in one command, on a fresh Debian 12 machine as root: installs what is
# missing (scripts/setup.sh), builds berth, makes the python:3.7 base image from Debian
# packages, builds the shop's three images (examples/shop: the seed's user, order and product
# services) and brings the shop up, then prints curl lines to try and how to stop it.
#
#   scripts/shop.sh [up] [--seed] [--no-setup] [--no-build]   # bring the shop up
#   scripts/shop.sh smoke                                     # examples/shop/smoke.sh against it
#   scripts/shop.sh down [-v]                                 # stop and remove it (-v: its data too)
#
# The shop runs as compose.yaml describes it (`berth compose ... build`, then `up -d --wait`);
# with --seed, from the seed's three docker-compose.yml files instead.
# BERTH_ROOT selects berth's state directory as for berth itself.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
action=up
seed=0
setup=1
build=1
down_args=()
while [ $# -gt 0 ]; do
    case $1 in
        up|down|smoke) action=$1 ;;
        --seed) seed=1 ;;
        --no-setup) setup=0 ;;
        --no-build) build=0 ;;
        -v|--volumes) down_args+=(-v) ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "shop: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

shop=examples/shop
compose_file=$shop/compose.yaml
seed_files=(--project-directory "$shop" -f "$shop/user/docker-compose.yml"
    -f "$shop/order/docker-compose.yml" -f "$shop/product/docker-compose.yml")
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t_start=$SECONDS

if [ "$action" = up ] && [ "$setup" = 1 ]; then
    say "scripts/setup.sh (Debian packages, Rust toolchain)"
    scripts/setup.sh
fi
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$action" = up ] && [ "$build" = 1 ]; then
    say "cargo build --release"
    cargo build --release -q --bin berth --bin berth-runtime --bin berth-monitor
fi
B=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$B" ] || { echo "shop: no berth at $B (cargo build --release)" >&2; exit 1; }
export BERTH=$B
# What the user types: `berth` when that is this binary, else its path.
if [ "$(command -v berth 2>/dev/null || true)" = "$B" ]; then bn=berth; else bn=$B; fi

if [ "$seed" = 1 ]; then
    files=("${seed_files[@]}")
else
    files=(-f "$compose_file")
fi

case $action in
down)
    "$B" compose "${files[@]}" down "${down_args[@]}"
    echo "shop: down${down_args:+ (volumes removed)}"
    exit 0
    ;;
smoke)
    exec "$shop/smoke.sh"
    ;;
esac

say "scripts/make-python-image.sh (python:3.7 from Debian packages)"
scripts/make-python-image.sh python:3.7

say "$bn compose ${files[*]} build"
"$B" compose "${files[@]}" build
say "$bn compose ${files[*]} up -d --wait"
"$B" compose "${files[@]}" up -d --wait

say "the shop is up ($((SECONDS - t_start)) s)"
cat <<EOF
Try it:
  curl -s -X POST localhost:5000/users -H 'Content-Type: application/json' -d '{"name": "Ada", "email": "ada@example.com"}'
  curl -s -X POST localhost:5002/products -H 'Content-Type: application/json' -d '{"name": "Widget", "price": 2.5}'
  curl -s -X POST localhost:5001/orders -H 'Content-Type: application/json' -d '{"user_id": 1, "product_id": 1, "quantity": 2}'
  curl -s localhost:5001/orders
  curl -s localhost:5000/users/1 localhost:5002/products/1
  $shop/smoke.sh            # all of the above, checked
EOF
cat <<EOF
See it:
  $bn compose ${files[*]} ps
  $bn compose ${files[*]} logs -f
Stop it:
  $bn compose ${files[*]} down        # keeps the data volumes; add -v to drop them
  (or: scripts/shop.sh down [-v])
EOF
