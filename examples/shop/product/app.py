"""Product service of the shop: create and read products, as JSON, on port 5002.

Products are kept in SQLite at $PRODUCT_DB (default /data/products.db; compose.yaml puts /data
on a named volume that every replica shares). Each answer carries the replica's hostname
(header X-Served-By, field served_by in a single product) so a caller can tell replicas apart.
Only the standard library and Flask; runs on Python 3.7 and later.
"""
import logging
import os
import signal
import socket
import sqlite3
import sys

from flask import Flask, g, jsonify, request

SERVICE = "product"
PORT = int(os.environ.get("PORT", "5002"))
DB = os.environ.get("PRODUCT_DB", "/data/products.db")
HOST = socket.gethostname()

app = Flask(__name__)


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
            "CREATE TABLE IF NOT EXISTS products ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " name TEXT NOT NULL,"
            " price REAL NOT NULL)"
        )


def error(status, message):
    return jsonify({"error": message}), status


def as_product(row):
    return {"id": row["id"], "name": row["name"], "price": row["price"]}


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
    return jsonify({"service": SERVICE, "host": HOST,
                    "endpoints": ["GET /health", "GET /products", "POST /products",
                                  "GET /products/<id>"]})


@app.route("/health")
def health():
    db().execute("SELECT 1").fetchone()
    return jsonify({"status": "ok", "service": SERVICE, "host": HOST})


@app.route("/products", methods=["GET"])
def list_products():
    rows = db().execute("SELECT id, name, price FROM products ORDER BY id").fetchall()
    return jsonify([as_product(r) for r in rows])


@app.route("/products", methods=["POST"])
def create_product():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object with name and price")
    name, price = body.get("name"), body.get("price")
    if not isinstance(name, str) or not name.strip():
        return error(400, "name: expected a non-empty string")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
        return error(400, "price: expected a number >= 0")
    conn = db()
    cur = conn.execute("INSERT INTO products (name, price) VALUES (?, ?)", (name.strip(), price))
    conn.commit()
    return jsonify({"id": cur.lastrowid, "name": name.strip(), "price": price}), 201


@app.route("/products/<int:product_id>", methods=["GET"])
def get_product(product_id):
    row = db().execute(
        "SELECT id, name, price FROM products WHERE id = ?", (product_id,)).fetchone()
    if row is None:
        return error(404, "no product %d" % product_id)
    out = as_product(row)
    out["served_by"] = HOST
    return jsonify(out)


def main():
    # As PID 1 in a container, a process that sets no handler ignores SIGTERM: stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    init_db()
    print("%s service on 0.0.0.0:%d (Flask's development server, as in the seed; db %s)"
          % (SERVICE, PORT, DB), flush=True)
    app.run(host="0.0.0.0", port=PORT, threaded=True)


if __name__ == "__main__":
    main()
