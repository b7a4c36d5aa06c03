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
# How it runs the shop depends on what this berth can do (SHOP_MODE=compose|build|manual
# forces one):
#   compose  `berth compose -f examples/shop/compose.yaml build` then `up -d --wait`
#            (with --seed: the seed's three docker-compose.yml files instead);
#   build    no compose yet: `berth build` makes shop-user/-order/-product from the Dockerfiles,
#            then `berth run -d` starts them on the host network;
#   manual   neither yet: the same containers from python:3.7 itself, with app.py bind-mounted
#            and flask pip-installed once into a volume (what the Dockerfiles' RUN would do).
# The last two use the host network (the order service reaches the others on 127.0.0.1), the
# same volumes (shop_users, shop_products, shop_orders), the same ports and restart policy.
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
services=(user product order) # dependencies first
port_of() { case $1 in user) echo 5000 ;; order) echo 5001 ;; product) echo 5002 ;; esac; }
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
B=${BERTH:-$repo/target/release/berth}
[ -x "$B" ] || { echo "shop: no berth at $B (cargo build --release)" >&2; exit 1; }
export BERTH=$B
# What the user types: `berth` when that is this binary, else its path.
if [ "$(command -v berth 2>/dev/null || true)" = "$B" ]; then bn=berth; else bn=$B; fi

has_verb() { "$B" "$1" --help >/dev/null 2>&1; }
mode=${SHOP_MODE:-}
if [ -z "$mode" ]; then
    if has_verb compose; then mode=compose
    elif has_verb build; then mode=build
    else mode=manual
    fi
fi
case $mode in compose|build|manual) ;; *) echo "shop: SHOP_MODE=$mode: want compose, build or manual" >&2; exit 2 ;; esac
if [ "$seed" = 1 ]; then
    [ "$mode" = compose ] || { echo "shop: --seed needs berth compose, which this berth does not have yet" >&2; exit 1; }
    files=("${seed_files[@]}")
else
    files=(-f "$compose_file")
fi

# --- without compose: containers shop-<service> on the host network --------------------------
remove_manual() {
    local s
    for s in order product user; do
        "$B" rm -f "shop-$s" >/dev/null 2>&1 || true
    done
}
wait_healthy() { # PORT NAME
    local deadline=$((SECONDS + 60))
    until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/health" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "shop: $2 did not answer http://127.0.0.1:$1/health within 60 s; its log:" >&2
            "$B" logs --tail 20 "shop-$2" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}
up_manual() {
    local s p image site=""
    remove_manual
    for s in "${services[@]}"; do
        p=$(port_of "$s")
        if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
            echo "shop: port $p is taken on this host:" >&2
            ss -Hltnp "sport = :$p" >&2 || true
            exit 1
        fi
    done
    if [ "$mode" = build ]; then
        for s in "${services[@]}"; do
            say "$bn build -t shop-$s $shop/$s"
            "$B" build -t "shop-$s" "$shop/$s"
        done
    else
        # What `RUN pip install flask` would add, kept in a volume over the image's site dir.
        site=$("$B" run --rm --network none python:3.7 python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        if ! "$B" run --rm --network none -v "shop-flask:$site" python:3.7 python -c 'import flask' >/dev/null 2>&1; then
            say "pip install flask (into the volume shop-flask, as the Dockerfiles' RUN would)"
            "$B" run --rm --network host -v "shop-flask:$site" python:3.7 pip install -q flask
        fi
    fi
    for s in "${services[@]}"; do
        p=$(port_of "$s")
        local args=(-d --name "shop-$s" --network host --restart unless-stopped
            -v "shop_${s}s:/data" -l com.berth.example=shop)
        [ "$s" = order ] && args+=(-e USER_URL=http://127.0.0.1:5000 -e PRODUCT_URL=http://127.0.0.1:5002)
        if [ "$mode" = build ]; then
            image=("shop-$s")
        else
            args+=(-v "$repo/$shop/$s/app.py:/app.py:ro" -v "shop-flask:$site:ro")
            image=(python:3.7 python /app.py)
        fi
        say "$bn run ${args[*]} ${image[*]}"
        "$B" run "${args[@]}" "${image[@]}" >/dev/null
        # As compose's depends_on service_healthy: order starts once user and product answer.
        wait_healthy "$p" "$s"
    done
}

case $action in
down)
    if [ "$mode" = compose ]; then
        "$B" compose "${files[@]}" down "${down_args[@]}"
        remove_manual # what an older berth without compose may have started
    else
        remove_manual
        if [ ${#down_args[@]} -gt 0 ]; then
            "$B" volume rm shop_users shop_products shop_orders shop-flask >/dev/null 2>&1 || true
        fi
    fi
    echo "shop: down${down_args:+ (volumes removed)}"
    exit 0
    ;;
smoke)
    exec "$shop/smoke.sh"
    ;;
esac

say "scripts/make-python-image.sh (python:3.7 from Debian packages)"
scripts/make-python-image.sh python:3.7

if [ "$mode" = compose ]; then
    remove_manual # what an older berth without compose may have started holds the ports
    say "$bn compose ${files[*]} build"
    "$B" compose "${files[@]}" build
    say "$bn compose ${files[*]} up -d --wait"
    "$B" compose "${files[@]}" up -d --wait
else
    echo
    echo "shop: this berth has no \`compose\` verb yet: starting the three services with"
    echo "shop: \`berth ${mode/manual/run}\` the way compose.yaml describes them (mode $mode)."
    up_manual
fi

say "the shop is up ($((SECONDS - t_start)) s, mode $mode)"
cat <<EOF
Try it:
  curl -s -X POST localhost:5000/users -H 'Content-Type: application/json' -d '{"name": "Ada", "email": "ada@example.com"}'
  curl -s -X POST localhost:5002/products -H 'Content-Type: application/json' -d '{"name": "Widget", "price": 2.5}'
  curl -s -X POST localhost:5001/orders -H 'Content-Type: application/json' -d '{"user_id": 1, "product_id": 1, "quantity": 2}'
  curl -s localhost:5001/orders
  curl -s localhost:5000/users/1 localhost:5002/products/1
  $shop/smoke.sh            # all of the above, checked
EOF
if [ "$mode" = compose ]; then
    cat <<EOF
See it:
  $bn compose ${files[*]} ps
  $bn compose ${files[*]} logs -f
Stop it:
  $bn compose ${files[*]} down        # keeps the data volumes; add -v to drop them
  (or: scripts/shop.sh down [-v])
EOF
else
    cat <<EOF
See it:
  $bn ps --filter label=com.berth.example=shop
  $bn logs -f shop-order
Stop it:
  scripts/shop.sh down      # keeps the data volumes; add -v to drop them
EOF
fi
