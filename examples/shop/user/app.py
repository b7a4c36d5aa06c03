"""User service of the shop: create and read users, as JSON, on port 5000.

Users are kept in SQLite at $USER_DB (default /data/users.db; compose.yaml puts /data on a
named volume). Only the standard library and Flask; runs on Python 3.7 and later.
"""
import logging
import os
import signal
import socket
import sqlite3
import sys

from flask import Flask, g, jsonify, request

SERVICE = "user"
PORT = int(os.environ.get("PORT", "5000"))
DB = os.environ.get("USER_DB", "/data/users.db")
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
            "CREATE TABLE IF NOT EXISTS users ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " name TEXT NOT NULL,"
            " email TEXT NOT NULL UNIQUE)"
        )


def error(status, message):
    return jsonify({"error": message}), status


def as_user(row):
    return {"id": row["id"], "name": row["name"], "email": row["email"]}


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
                    "endpoints": ["GET /health", "GET /users", "POST /users", "GET /users/<id>"]})


@app.route("/health")
def health():
    db().execute("SELECT 1").fetchone()
    return jsonify({"status": "ok", "service": SERVICE, "host": HOST})


@app.route("/users", methods=["GET"])
def list_users():
    rows = db().execute("SELECT id, name, email FROM users ORDER BY id").fetchall()
    return jsonify([as_user(r) for r in rows])


@app.route("/users", methods=["POST"])
def create_user():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object with name and email")
    name, email = body.get("name"), body.get("email")
    if not isinstance(name, str) or not name.strip():
        return error(400, "name: expected a non-empty string")
    if not isinstance(email, str) or "@" not in email:
        return error(400, "email: expected an address with @")
    conn = db()
    try:
        cur = conn.execute("INSERT INTO users (name, email) VALUES (?, ?)", (name.strip(), email))
        conn.commit()
    except sqlite3.IntegrityError:
        return error(409, "email %s is already registered" % email)
    return jsonify({"id": cur.lastrowid, "name": name.strip(), "email": email}), 201


@app.route("/users/<int:user_id>", methods=["GET"])
def get_user(user_id):
    row = db().execute("SELECT id, name, email FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        return error(404, "no user %d" % user_id)
    return jsonify(as_user(row))


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
