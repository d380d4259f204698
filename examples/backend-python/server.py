#!/usr/bin/env python3
"""A Switchboard backend in Python, standard library only (docs/backend.md).

Switchboard asks it over HTTP who connects, who may subscribe and publish, and
serves the RPC methods it has no handler for. Every call is checked against
the Standard Webhooks signature made with the shared secret first.

    SWITCHBOARD_PROXY_SECRET=whsec_... python3 server.py [PORT]

It prints "listening on http://127.0.0.1:PORT" once it accepts calls (PORT 0
picks a free one). The users and rules below are an example: put your own
session store and database behind the same answers.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("SWITCHBOARD_PROXY_SECRET", "")
TOLERANCE_SECONDS = 300  # a call signed longer ago than this is refused (replays)
MAX_BODY = 1 << 20

# Session cookie -> user: stands in for the app's session store.
SESSIONS = {"s-ann": "ann", "s-bob": "bob", "s-eve": "eve"}
BANNED = {"eve"}


def signature_ok(headers, body: bytes) -> bool:
    """The Standard Webhooks check: HMAC-SHA256 over id.timestamp.body, key = base64 after whsec_."""
    if not SECRET:
        return True  # no secret configured on either side
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # The header may carry several space-separated "v1,<base64>" signatures (key rotation).
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (entry.partition(",") for entry in signatures.split())
    )


def cookie(headers: dict, name: str):
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def error(code, message):
    return {"error": {"code": code, "message": message}}


def on_connect(call):
    """No valid JWT in the handshake: who is it? (headers are those in proxy.headers)"""
    user = SESSIONS.get(cookie(call["headers"], "session"))
    if user is None:
        return error("unauthorized", "log in first")
    if user in BANNED:
        return {"disconnect": {"code": 4003, "reason": "banned"}}
    return {"result": {"user": user, "info": {"name": user.title()}, "expiresAt": int(time.time()) + 3600, "channels": [f"inbox:#{user}"]}}


def on_refresh(call):
    """At expiresAt: extend while the user still exists."""
    if call["user"] in BANNED:
        return {"result": {"expired": True}}
    return {"result": {"expiresAt": int(time.time()) + 3600}}


def on_subscribe(call):
    """Channels in namespaces whose subscribe rule is "proxy"."""
    if call["channel"].startswith("chat:staff") and call["user"] != "ann":
        return error("forbidden", "staff only")
    return {"result": {"info": {"name": (call["user"] or "guest").title()}}}


def on_publish(call):
    """Store and deliver a cleaned payload instead of the one sent."""
    payload = call["payload"]
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        return error("bad_request", "a message is {text}")
    text = payload["text"].replace("darn", "d**n")
    return {"result": {"payload": {"text": text, "by": call["user"], "at": int(time.time())}}}


def on_rpc(call):
    """Every RPC method Switchboard has no in-process handler for."""
    method, payload = call["method"], call["payload"]
    if method == "add":
        return {"result": {"payload": {"sum": payload["a"] + payload["b"]}}}
    if method == "whoami":
        return {"result": {"payload": {"user": call["user"], "client": call["client"], "protocol": call["protocol"]}}}
    return error("not_found", f"no method {method}")


ROUTES = {"/sb/connect": on_connect, "/sb/refresh": on_refresh, "/sb/subscribe": on_subscribe, "/sb/publish": on_publish, "/sb/rpc": on_rpc}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Switchboard reuses connections

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return self.answer(413, error("payload_too_large", "too large"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not signature_ok(headers, body):
            return self.answer(401, error("unauthorized", "bad signature"))
        route = ROUTES.get(self.path)
        if route is None:
            return self.answer(404, error("not_found", self.path))
        try:
            self.answer(200, route(json.loads(body)))
        except (KeyError, TypeError, ValueError) as problem:
            self.answer(200, error("bad_request", f"cannot handle this call: {problem!r}"))

    def answer(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: one line per call is too many
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Switchboard closing an idle keep-alive connection is not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = Server(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
