#!/usr/bin/env bash
# Smoke test of a running shop: creates a user and a product, places an order (which the
# order service checks with the other two by name), reads it back, and checks that an order
# for an unknown user is refused. Exits non-zero, saying which step failed, on any failure.
#
#   examples/shop/smoke.sh [HOST]        # HOST default 127.0.0.1; ports 5000, 5001, 5002
#
# Environment: USER_PORT, ORDER_PORT, PRODUCT_PORT override the ports; SMOKE_WAIT (seconds,
# default 30) is how long to wait for the three /health endpoints first. Needs curl, python3.
set -euo pipefail
host=${1:-127.0.0.1}
user=http://$host:${USER_PORT:-5000}
order=http://$host:${ORDER_PORT:-5001}
product=http://$host:${PRODUCT_PORT:-5002}
wait_s=${SMOKE_WAIT:-30}

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
# call METHOD URL [JSON] -> sets $status and $body
call() {
    local out
    if [ $# -ge 3 ]; then
        out=$(curl -sS -m 10 -X "$1" -H 'Content-Type: application/json' -d "$3" -w '\n%{http_code}' "$2") \
            || fail "$1 $2: curl failed"
    else
        out=$(curl -sS -m 10 -X "$1" -w '\n%{http_code}' "$2") || fail "$1 $2: curl failed"
    fi
    status=${out##*$'\n'}
    body=${out%$'\n'*}
}
# field JSON KEY -> prints body[KEY] (nested with dots)
field() {
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2" 2>/dev/null || fail "no field $2 in $1"
}
expect() { # expect STATUS WHAT
    [ "$status" = "$1" ] || fail "$2: want HTTP $1, got $status: $body"
    echo "smoke: ok  $2"
}

deadline=$((SECONDS + wait_s))
for url in "$user" "$product" "$order"; do
    until curl -fsS -m 2 -o /dev/null "$url/health" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "$url/health did not answer within ${wait_s}s"
        sleep 0.2
    done
done
echo "smoke: ok  all three /health endpoints answer"

tag="$(date +%s)-$$-$RANDOM"
call POST "$user/users" "{\"name\": \"Ada $tag\", \"email\": \"ada-$tag@example.com\"}"
expect 201 "create user"
uid=$(field "$body" id)
call GET "$user/users/$uid"
expect 200 "get user $uid"
[ "$(field "$body" email)" = "ada-$tag@example.com" ] || fail "user $uid has the wrong email: $body"

call POST "$product/products" "{\"name\": \"Widget $tag\", \"price\": 2.5}"
expect 201 "create product"
pid=$(field "$body" id)
call GET "$product/products/$pid"
expect 200 "get product $pid"

call POST "$order/orders" "{\"user_id\": $uid, \"product_id\": $pid, \"quantity\": 4}"
expect 201 "place order (user $uid, product $pid, quantity 4)"
oid=$(field "$body" id)
[ "$(field "$body" total)" = "10.0" ] || fail "order $oid total: want 10.0, got $(field "$body" total)"
call GET "$order/orders/$oid"
expect 200 "get order $oid"
if [ "$(field "$body" user_id)" != "$uid" ] || [ "$(field "$body" product_id)" != "$pid" ]; then
    fail "order $oid does not match what was placed: $body"
fi
echo "smoke: order $oid checked by user service $(field "$body" checked_by.user), product service $(field "$body" checked_by.product)"

call POST "$order/orders" "{\"user_id\": 999999999, \"product_id\": $pid}"
expect 422 "order for an unknown user is refused"
call POST "$order/orders" "{\"user_id\": $uid, \"product_id\": 999999999}"
expect 422 "order for an unknown product is refused"
echo "smoke: PASS (user $uid, product $pid, order $oid)"
