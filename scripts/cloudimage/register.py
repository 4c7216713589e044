#!/usr/bin/env python3
"""register.py IMAGE.raw [--name NAME]: makes a raw disk image (build.sh's
cloud image, or any BIOS-bootable raw disk) an AMI through openami's APIs,
as a user would on AWS, and prints its id:

  1. EBS direct API: StartSnapshot, PutSnapshotBlock for every 512 KiB block
     that is not all zeros (a sparse 2 GiB image sends its ~540 MiB),
     CompleteSnapshot with the SHA-256 checksums aggregated linearly;
  2. EC2: wait for the snapshot to complete, RegisterImage (hvm,
     legacy-bios, x86_64, root /dev/xvda), wait for the image to be
     available.

Credentials and region come the usual way (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION or AWS_PROFILE); the endpoint
from --endpoint-url or AWS_ENDPOINT_URL (e.g. http://127.0.0.1:8773),
read here rather than left to boto3, whose older releases (Debian 12's)
ignore AWS_ENDPOINT_URL and would talk to AWS itself. Needs boto3.
See docs/CLOUDIMAGE.md.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import math
import os
import sys

import boto3

BLOCK = 512 * 1024
ZERO = bytes(BLOCK)


def blocks(path):
    """Yields (index, data) for every block of the file that is not all zeros."""
    with open(path, "rb") as f:
        index = 0
        while True:
            data = f.read(BLOCK)
            if not data:
                return
            if len(data) < BLOCK:
                data += bytes(BLOCK - len(data))
            if data != ZERO:
                yield index, data
            index += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("--name", default="openami-debian-12-cloud")
    ap.add_argument("--description", default="Debian 12 cloud image (scripts/cloudimage/build.sh)")
    ap.add_argument("--endpoint-url", default=None)
    ap.add_argument("--region", default=None)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        sys.exit("register.py: no endpoint: give --endpoint-url or AWS_ENDPOINT_URL (openami's, e.g. http://127.0.0.1:8773)")

    session = boto3.session.Session(region_name=args.region)
    ebs = session.client("ebs", endpoint_url=endpoint)
    ec2 = session.client("ec2", endpoint_url=endpoint)

    size = os.path.getsize(args.image)
    gib = max(1, math.ceil(size / 2**30))
    snap = ebs.start_snapshot(VolumeSize=gib, Description=args.description)["SnapshotId"]
    print(f"register.py: {args.image} ({gib} GiB) into {snap}", file=sys.stderr)

    sums = {}

    def put(index, data):
        digest = hashlib.sha256(data).digest()
        ebs.put_snapshot_block(
            SnapshotId=snap, BlockIndex=index, BlockData=data, DataLength=BLOCK,
            Checksum=base64.b64encode(digest).decode(), ChecksumAlgorithm="SHA256")
        return index, digest

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        pending = set()
        for index, data in blocks(args.image):
            pending.add(pool.submit(put, index, data))
            if len(pending) >= 4 * args.workers:  # bound the blocks held in memory
                done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                sums.update(f.result() for f in done)
        sums.update(f.result() for f in concurrent.futures.as_completed(pending))

    linear = hashlib.sha256(b"".join(sums[i] for i in sorted(sums))).digest()
    ebs.complete_snapshot(
        SnapshotId=snap, ChangedBlocksCount=len(sums), Checksum=base64.b64encode(linear).decode(),
        ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR")
    print(f"register.py: {len(sums)} blocks ({len(sums) * BLOCK >> 20} MiB) sent; waiting for {snap}", file=sys.stderr)
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig={"Delay": 2, "MaxAttempts": 300})

    ami = ec2.register_image(
        Name=args.name, Description=args.description, Architecture="x86_64", VirtualizationType="hvm",
        BootMode="legacy-bios", RootDeviceName="/dev/xvda", EnaSupport=True,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                              "Ebs": {"SnapshotId": snap, "VolumeSize": gib, "DeleteOnTermination": True}}],
    )["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    print(ami)


if __name__ == "__main__":
    main()
