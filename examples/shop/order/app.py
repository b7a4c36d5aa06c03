"""Order service of the shop: place and read orders, as JSON, on port 5001.

An order names a user and a product; before it is kept, the service asks the user service
($USER_URL, default http://user:5000) and the product service ($PRODUCT_URL, default
http://product:5002) by name whether both exist, and prices the order from the product.
Orders are kept in SQLite at $ORDER_DB (default /data/orders.db; compose.yaml puts /data on
a named volume, so orders outlive the containers). Each order records which replica of each
service checked it (checked_by). Only the standard library and Flask; Python 3.7 and later.
"""
import datetime
import itertools
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request

from flask import Flask, g, jsonify, request

SERVICE = "order"
PORT = int(os.environ.get("PORT", "5001"))
DB = os.environ.get("ORDER_DB", "/data/orders.db")
USER_URL = os.environ.get("USER_URL", "http://user:5000").rstrip("/")
PRODUCT_URL = os.environ.get("PRODUCT_URL", "http://product:5002").rstrip("/")
TIMEOUT = float(os.environ.get("UPSTREAM_TIMEOUT", "5"))
HOST = socket.gethostname()

app = Flask(__name__)


class Upstream(Exception):
    """A call to another service that did not give the answer an order needs."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def db():
    if "db" not in g:
        g.db = sqlite3.connect(DB, timeout=10)
        g.db.row_factory = sqlite3.Row
    return g.db


@app.teardown_appcontext
def close_db(_exc):
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_db():
    os.makedirs(os.path.dirname(DB) or ".", exist_ok=True)
    with sqlite3.connect(DB, timeout=10) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " user_id INTEGER NOT NULL,"
            " product_id INTEGER NOT NULL,"
            " quantity INTEGER NOT NULL,"
            " unit_price REAL NOT NULL,"
            " total REAL NOT NULL,"
            " created_at TEXT NOT NULL,"
            " user_host TEXT NOT NULL,"
            " product_host TEXT NOT NULL)"
        )


def error(status, message):
    return jsonify({"error": message}), status


_turns = itertools.count()


def replica_url(url):
    """The URL with its host name replaced by one of the addresses the name has, in turn.

    A scaled service has one address per replica under its name; resolvers sort or cache
    them, so urllib alone could always reach the same replica. Taking the addresses in turn
    spreads the checks over every replica."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return url  # urllib will say why it cannot connect
    # Only the family the resolver put first (what urllib would use): a name can have an
    # IPv6 address a service does not listen on, such as localhost's ::1.
    addrs = sorted(set(info[4][0] for info in infos if info[0] == infos[0][0]))
    if len(addrs) < 2:
        return url
    addr = addrs[next(_turns) % len(addrs)]
    netloc = "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def fetch(kind, base, path):
    """GETs base+path and returns (JSON body, replica hostname); Upstream on anything else."""
    url = base + path
    try:
        with urllib.request.urlopen(replica_url(url), timeout=TIMEOUT) as resp:
            return json.loads(resp.read().decode("utf-8")), resp.headers.get("X-Served-By", "")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise Upstream(422, "unknown %s: %s answered 404" % (kind, url))
        raise Upstream(502, "%s service error: %s answered %d" % (kind, url, e.code))
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise Upstream(503, "%s service unreachable at %s: %s" % (kind, url, reason))


def as_order(row):
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "product_id": row["product_id"],
        "quantity": row["quantity"],
        "unit_price": row["unit_price"],
        "total": row["total"],
        "created_at": row["created_at"],
        "checked_by": {"user": row["user_host"], "product": row["product_host"]},
    }


def positive_int(body, key):
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise Upstream(400, "%s: expected an integer >= 1" % key)
    return v


@app.after_request
def served_by(resp):
    resp.headers["X-Served-By"] = HOST
    # One plain line per request (werkzeug's own log colours it); healthchecks stay quiet.
    if not (request.path == "/health" and resp.status_code == 200):
        print("%s %s %s %d" % (request.remote_addr, request.method, request.full_path.rstrip("?"),
                               resp.status_code), flush=True)
    return resp


@app.route("/")
def index():
    return jsonify({"service": SERVICE, "host": HOST, "user_url": USER_URL,
                    "product_url": PRODUCT_URL,
                    "endpoints": ["GET /health", "GET /orders", "POST /orders",
                                  "GET /orders/<id>"]})


@app.route("/health")
def health():
    db().execute("SELECT 1").fetchone()
    return jsonify({"status": "ok", "service": SERVICE, "host": HOST})


@app.route("/orders", methods=["GET"])
def list_orders():
    user_id = request.args.get("user_id", type=int)
    if user_id is None:
        rows = db().execute("SELECT * FROM orders ORDER BY id").fetchall()
    else:
        rows = db().execute(
            "SELECT * FROM orders WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
    return jsonify([as_order(r) for r in rows])


@app.route("/orders", methods=["POST"])
def create_order():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object with user_id, product_id and quantity")
    try:
        user_id = positive_int(body, "user_id")
        product_id = positive_int(body, "product_id")
        quantity = positive_int(body, "quantity") if "quantity" in body else 1
        _user, user_host = fetch("user", USER_URL, "/users/%d" % user_id)
        product, product_host = fetch("product", PRODUCT_URL, "/products/%d" % product_id)
        unit_price = float(product["price"])
    except Upstream as e:
        return error(e.status, e.message)
    except (KeyError, TypeError, ValueError):
        return error(502, "product service: answer for product %d has no price" % product_id)
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn = db()
    cur = conn.execute(
        "INSERT INTO orders (user_id, product_id, quantity, unit_price, total, created_at,"
        " user_host, product_host) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, product_id, quantity, unit_price, round(unit_price * quantity, 2), created,
         user_host, product_host))
    conn.commit()
    row = conn.execute("SELECT * FROM orders WHERE id = ?", (cur.lastrowid,)).fetchone()
    return jsonify(as_order(row)), 201


@app.route("/orders/<int:order_id>", methods=["GET"])
def get_order(order_id):
    row = db().execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        return error(404, "no order %d" % order_id)
    return jsonify(as_order(row))


def main():
    # As PID 1 in a container, a process that sets no handler ignores SIGTERM: stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    init_db()
    print("%s service on 0.0.0.0:%d (Flask's development server, as in the seed; db %s;"
          " users %s, products %s)" % (SERVICE, PORT, DB, USER_URL, PRODUCT_URL), flush=True)
    app.run(host="0.0.0.0", port=PORT, threaded=True)


if __name__ == "__main__":
    main()
