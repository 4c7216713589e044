#!/usr/bin/env python3
"""A fake instance metadata service for one HTTP connection on stdin/stdout.

Meant for QEMU user-mode networking's per-connection forwarder:

    -netdev user,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:python3 fake_imds.py

QEMU runs the command once per guest connection with the connection as its
stdin, stdout AND stderr, so nothing may be written to stderr: diagnostics go
to $FAKE_IMDS_LOG when set. It answers the paths the openami test image asks
for (see docs/TESTIMAGE.md) with fixed test values:

    PUT /latest/api/token                      IMDSv2 token (needs the TTL header)
    GET /latest/meta-data/instance-id          $FAKE_IMDS_INSTANCE_ID or i-0123456789abcdef0
    GET /latest/meta-data/public-keys/0/openssh-key   a fixed test key ($FAKE_IMDS_SSH_KEY)
    GET /latest/user-data                      contents of the file $FAKE_IMDS_USER_DATA (404 if unset)

$FAKE_IMDS_TOKENS selects IMDSv2 behaviour: "optional" (default: tokens
accepted, not needed), "required" (GETs without a valid token get 401) or
"disabled" (the PUT gets 404, like an IMDSv1-only server).
"""

import os
import sys

# The helpers both fake metadata services share, in scripts/lib (found from
# this file's place: QEMU runs it with python3 -I, which leaves the script's
# directory off sys.path).
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from imds_http import DEFAULT_KEY, TOKEN, log, read_request  # noqa: E402


def respond(out, status, body=b"", extra=()):
    reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
               404: "Not Found", 405: "Method Not Allowed"}
    if isinstance(body, str):
        body = body.encode()
    head = "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        status, reasons.get(status, "Error"), len(body))
    for k, v in extra:
        head += "%s: %s\r\n" % (k, v)
    out.write(head.encode() + b"\r\n" + body)
    out.flush()


def main():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    req = read_request(inp)
    if req is None:
        log("no request")
        return
    method, path, headers = req
    mode = os.environ.get("FAKE_IMDS_TOKENS", "optional")
    log("%s %s token=%s" % (method, path, "x-aws-ec2-metadata-token" in headers))

    if path == "/latest/api/token":
        if mode == "disabled":
            return respond(out, 404)
        if method != "PUT":
            return respond(out, 405)
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return respond(out, 400)
        return respond(out, 200, TOKEN, [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])

    if method != "GET":
        return respond(out, 405)
    token = headers.get("x-aws-ec2-metadata-token")
    if token is not None and token != TOKEN:
        return respond(out, 401)
    if token is None and mode == "required":
        return respond(out, 401)

    if path == "/latest/meta-data/instance-id":
        return respond(out, 200, os.environ.get("FAKE_IMDS_INSTANCE_ID", "i-0123456789abcdef0"))
    if path == "/latest/meta-data/public-keys/0/openssh-key":
        return respond(out, 200, os.environ.get("FAKE_IMDS_SSH_KEY", DEFAULT_KEY) + "\n")
    if path == "/latest/user-data":
        f = os.environ.get("FAKE_IMDS_USER_DATA")
        if not f or not os.path.exists(f):
            return respond(out, 404)
        with open(f, "rb") as fh:
            return respond(out, 200, fh.read())
    if path in ("/latest/meta-data", "/latest/meta-data/"):
        return respond(out, 200, "instance-id\npublic-keys/\n")
    return respond(out, 404)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # never let a traceback reach the guest
        log("error: %r" % (e,))
