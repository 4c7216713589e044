#!/usr/bin/env python3
"""A fake EC2 instance metadata service for one HTTP connection on stdin/stdout,
enough for cloud-init's Ec2 datasource (see docs/CLOUDIMAGE.md).

Meant for QEMU user-mode networking's per-connection forwarder:

    -netdev user,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:python3 -I fake_imds.py

QEMU runs the command once per guest connection with the connection as its
stdin, stdout AND stderr, so nothing may be written to stderr: every request
is logged to $FAKE_IMDS_LOG when set (one line: method, path, whether a token
was sent, the answer's status).

It serves the EC2 layout under any metadata version (latest, 2009-04-04,
2021-03-23, ...): directory listings, public-keys in EC2's "0=name" form,
user data, the instance identity document, and IMDSv2 tokens
(PUT /latest/api/token). Values come from the environment:

    FAKE_IMDS_INSTANCE_ID   default i-0123456789abcdef0
    FAKE_IMDS_SSH_KEY       the OpenSSH public key (default: a fixed, unusable test key)
    FAKE_IMDS_HOSTNAME      default ip-169-254-2-15.openami.internal
    FAKE_IMDS_LOCAL_IPV4    default 169.254.2.15 (QEMU's first DHCP address on 169.254.0.0/16)
    FAKE_IMDS_USER_DATA     a file served as user-data (404 when unset)
    FAKE_IMDS_TOKENS        optional (default) | required | disabled
"""

import json
import os
import re
import sys

# The helpers both fake metadata services share, in scripts/lib (found from
# this file's place: QEMU runs it with python3 -I, which leaves the script's
# directory off sys.path).
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from imds_http import DEFAULT_KEY, TOKEN, log, read_request  # noqa: E402

VERSION = re.compile(r"^/(latest|\d{4}-\d{2}-\d{2})(/.*)?$")


def metadata():
    """The meta-data tree: dicts are directories, strings are leaves."""
    env = os.environ.get
    iid = env("FAKE_IMDS_INSTANCE_ID", "i-0123456789abcdef0")
    ip = env("FAKE_IMDS_LOCAL_IPV4", "169.254.2.15")
    host = env("FAKE_IMDS_HOSTNAME", "ip-%s.openami.internal" % ip.replace(".", "-"))
    return {
        "ami-id": "ami-0123456789abcdef0",
        "ami-launch-index": "0",
        "hostname": host,
        "instance-id": iid,
        "instance-type": "t3.micro",
        "local-hostname": host,
        "local-ipv4": ip,
        "placement": {"availability-zone": "openami-1a", "region": "openami-1"},
        "public-keys": {"0": {"openssh-key": env("FAKE_IMDS_SSH_KEY", DEFAULT_KEY) + "\n"}},
        "services": {"domain": "amazonaws.com", "partition": "aws"},
    }


def identity():
    md = metadata()
    return json.dumps({
        "accountId": "000000000000",
        "architecture": "x86_64",
        "availabilityZone": md["placement"]["availability-zone"],
        "imageId": md["ami-id"],
        "instanceId": md["instance-id"],
        "instanceType": md["instance-type"],
        "privateIp": md["local-ipv4"],
        "region": md["placement"]["region"],
        "version": "2017-09-30",
    }, indent=2)


def lookup(tree, parts):
    """Returns the node at parts, or None."""
    node = tree
    for p in parts:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def listing(node, at_public_keys):
    if at_public_keys:  # EC2 lists keys as INDEX=NAME
        return "".join("%s=openami-key\n" % k for k in sorted(node))
    return "".join((k + "/" if isinstance(v, dict) else k) + "\n" for k, v in sorted(node.items()))


def answer(method, path, headers):
    """Returns (status, body, extra headers)."""
    mode = os.environ.get("FAKE_IMDS_TOKENS", "optional")
    if path == "/latest/api/token":
        if mode == "disabled":
            return 404, "", []
        if method != "PUT":
            return 405, "", []
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return 400, "", []
        return 200, TOKEN, [("X-aws-ec2-metadata-token-ttl-seconds", ttl)]
    if method != "GET":
        return 405, "", []
    token = headers.get("x-aws-ec2-metadata-token")
    if (token is not None and token != TOKEN) or (token is None and mode == "required"):
        return 401, "", []
    if path == "/":
        return 200, "latest\n2009-04-04\n2021-03-23\n", []
    m = VERSION.match(path)
    if not m:
        return 404, "", []
    rest = (m.group(2) or "/").strip("/")
    if rest == "":
        return 200, "dynamic\nmeta-data\nuser-data\n", []
    if rest == "user-data":
        f = os.environ.get("FAKE_IMDS_USER_DATA")
        if not f or not os.path.exists(f):
            return 404, "", []
        with open(f, "rb") as fh:
            return 200, fh.read(), []
    tree = {
        "meta-data": metadata(),
        "dynamic": {"instance-identity": {"document": identity()}},
    }
    parts = rest.split("/")
    node = lookup(tree, parts)
    if node is None:
        return 404, "", []
    if isinstance(node, dict):
        return 200, listing(node, parts == ["meta-data", "public-keys"]), []
    return 200, node, []


def respond(out, status, body=b"", extra=()):
    reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
               405: "Method Not Allowed"}
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
    status, body, extra = answer(method, path, headers)
    log("%s %s token=%s -> %d" % (method, path, "x-aws-ec2-metadata-token" in headers, status))
    respond(out, status, body, extra)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # never let a traceback reach the guest
        log("error: %r" % (e,))
