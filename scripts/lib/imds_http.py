"""What the fake instance metadata services (scripts/testimage/fake_imds.py,
scripts/cloudimage/fake_imds.py) share: the IMDSv2 token and test key they
hand out, their log, and reading one HTTP request from the guest's
connection. Each runs once per guest connection, with the connection as
stdin, stdout AND stderr, so nothing here writes to stderr.
"""

import os
import time

TOKEN = "openami-fake-imds-token-AQAEAHkR0Lk"
DEFAULT_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpenAmiTestImageFakeKeyForTestsOnly0000000 "
    "openami-test-key"
)


def log(msg):
    """Appends msg to $FAKE_IMDS_LOG, when it is set."""
    path = os.environ.get("FAKE_IMDS_LOG")
    if path:
        with open(path, "a") as f:
            f.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))


def read_request(inp):
    """Reads one HTTP request; returns (method, path without its query, headers) or None."""
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        b = inp.read(1)
        if not b:
            return None
        head += b
        if len(head) > 65536:
            return None
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0") or "0")
    if n > 0:
        inp.read(n)
    return parts[0], parts[1].split("?", 1)[0], headers
