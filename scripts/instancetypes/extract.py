#!/usr/bin/env python3
"""Writes rules/instances/instancetypes.tsv, openami's EC2 instance type
catalogue, from AWS's own documentation.

Source: the Amazon EC2 User Guide's doc_source (github.com/awsdocs/
amazon-ec2-user-guide at e3707c4, the last commit with content, May 2023):
the hardware specification tables of general-purpose-instances.md,
compute-optimized-instances.md, memory-optimized-instances.md and
storage-optimized-instances.md (vCPUs, memory), InstanceStorage.md
(instance store volumes: count x size, HDD/SSD, NVMe), instance-types.md
(current and previous generations, the Nitro families, bare metal) and
virtualization_types.md (the families that support paravirtual AMIs).
Families launched after that (m7i, m7i-flex, m7a, c7i, c7a, r7i, r7a)
come from SUPPLEMENT below, transcribed from AWS's current instance type
pages (docs.aws.amazon.com/ec2/latest/instancetypes/gp.html, co.html,
mo.html) on 2026-12-07. Accelerated computing (GPU, FPGA, Inferentia)
and Mac types are left out: openami runs neither.

Usage: extract.py DOC_SOURCE_DIR > rules/instances/instancetypes.tsv
"""
import math
import re
import sys
from pathlib import Path

SPEC_DOCS = ["general-purpose-instances.md", "compute-optimized-instances.md",
             "memory-optimized-instances.md", "storage-optimized-instances.md"]

# AWS Graviton families: arm64, UEFI only.
GRAVITON = {"a1", "t4g", "m6g", "m6gd", "m7g", "c6g", "c6gd", "c6gn", "c7g", "r6g", "r6gd",
            "r7g", "x2gd", "i4g", "im4gn", "is4gen"}
# Types that also run 32-bit (i386) AMIs, as DescribeInstanceTypes lists them.
I386 = {"t1.micro", "t2.nano", "t2.micro", "t2.small", "t2.medium", "m1.small", "m1.medium",
        "m3.medium", "m3.large", "c1.medium", "c3.large"}
# virtualization_types.md: "previous generation instance types support PV
# AMIs: C1, C3, HS1, M1, M3, M2, and T1".
PARAVIRTUAL = {"c1", "c3", "hs1", "m1", "m3", "m2", "t1"}
BURSTABLE = {"t2", "t3", "t3a", "t4g"}
# FreeTierEligible, as DescribeInstanceTypes answers in us-east-1.
FREE_TIER = {"t2.micro", "t3.micro", "t4g.micro"}
# The docs round t1.micro's 613 MiB to 0.61 GiB.
MEMORY_MIB = {"t1.micro": 627}

# Families launched after May 2023: family, (size, vCPUs, GiB)...; all
# Nitro, EBS only, current generation, x86_64.
SUPPLEMENT = {
    "m7i": [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("8xlarge", 32, 128),
            ("12xlarge", 48, 192), ("16xlarge", 64, 256), ("24xlarge", 96, 384), ("48xlarge", 192, 768),
            ("metal-24xl", 96, 384), ("metal-48xl", 192, 768)],
    "m7i-flex": [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("8xlarge", 32, 128)],
    "m7a": [("medium", 1, 4), ("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64),
            ("8xlarge", 32, 128), ("12xlarge", 48, 192), ("16xlarge", 64, 256), ("24xlarge", 96, 384),
            ("32xlarge", 128, 512), ("48xlarge", 192, 768), ("metal-48xl", 192, 768)],
    "c7i": [("large", 2, 4), ("xlarge", 4, 8), ("2xlarge", 8, 16), ("4xlarge", 16, 32), ("8xlarge", 32, 64),
            ("12xlarge", 48, 96), ("16xlarge", 64, 128), ("24xlarge", 96, 192), ("48xlarge", 192, 384),
            ("metal-24xl", 96, 192), ("metal-48xl", 192, 384)],
    "c7a": [("medium", 1, 2), ("large", 2, 4), ("xlarge", 4, 8), ("2xlarge", 8, 16), ("4xlarge", 16, 32),
            ("8xlarge", 32, 64), ("12xlarge", 48, 96), ("16xlarge", 64, 128), ("24xlarge", 96, 192),
            ("32xlarge", 128, 256), ("48xlarge", 192, 384), ("metal-48xl", 192, 384)],
    "r7i": [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64), ("4xlarge", 16, 128), ("8xlarge", 32, 256),
            ("12xlarge", 48, 384), ("16xlarge", 64, 512), ("24xlarge", 96, 768), ("48xlarge", 192, 1536),
            ("metal-24xl", 96, 768), ("metal-48xl", 192, 1536)],
    "r7a": [("medium", 1, 8), ("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64), ("4xlarge", 16, 128),
            ("8xlarge", 32, 256), ("12xlarge", 48, 384), ("16xlarge", 64, 512), ("24xlarge", 96, 768),
            ("32xlarge", 128, 1024), ("48xlarge", 192, 1536), ("metal-48xl", 192, 1536)],
}

COLUMNS = ["name", "vcpus", "memory_mib", "architectures", "virtualization", "boot_modes", "hypervisor",
           "bare_metal", "current_generation", "burstable", "free_tier",
           "store_count", "store_size_gb", "store_type", "store_nvme"]


def unescape(cell):
    return cell.replace("\\", "").replace("†", "").replace("*", "").strip()


def rows(text):
    """The cells of every table row of a markdown document."""
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            yield [unescape(c) for c in line.strip().strip("|").split("|")]


def family(name):
    return name.split(".")[0]


def main(src):
    src = Path(src)
    specs = {}
    for doc in SPEC_DOCS:
        for cells in rows((src / doc).read_text()):
            if len(cells) == 3 and re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", cells[0]) and cells[1].isdigit():
                try:
                    gib = float(cells[2])
                except ValueError:
                    continue
                specs.setdefault(cells[0], (int(cells[1]), gib))
    stores = {}
    for cells in rows((src / "InstanceStorage.md").read_text()):
        m = re.fullmatch(r"(\d+) x ([\d,]+) GB", cells[1]) if len(cells) >= 3 else None
        if m and re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", cells[0]):
            kind = cells[2]
            stores[cells[0]] = (int(m.group(1)), int(m.group(2).replace(",", "")),
                                "hdd" if "HDD" in kind else "ssd", "NVMe" in kind)
    types_doc = (src / "instance-types.md").read_text()
    prev = types_doc.split('name="previous-gen-instances"', 1)[1].split("## Hardware", 1)[0]
    previous = {family(n) for cells in rows(prev) for n in cells[1:] if "." in n}
    nitro_part = types_doc.split('name="nitro-instance-types"', 1)[1].split("### Bare metal", 1)[0]
    nitro = set()
    for line in nitro_part.splitlines():
        if line.startswith("+ **"):
            for f in line.split(":**", 1)[1].replace(" and ", ",").split(","):
                nitro.add(unescape(f).lower())

    out = []
    for name, (vcpus, gib) in specs.items():
        fam = family(name)
        if fam.startswith("mac"):
            continue
        metal = name.endswith(".metal") or ".metal-" in name
        arm = fam in GRAVITON
        arch = "arm64" if arm else ("i386,x86_64" if name in I386 else "x86_64")
        xen = fam not in nitro and not metal
        boot = "uefi" if arm else ("legacy-bios" if xen else "legacy-bios,uefi")
        hyper = "" if metal else ("xen" if xen else "nitro")
        virt = "hvm,paravirtual" if fam in PARAVIRTUAL else "hvm"
        count, size, kind, nvme = stores.get(name, (0, 0, "", False))
        out.append([name, vcpus, MEMORY_MIB.get(name, math.floor(gib * 1024)), arch, virt, boot, hyper,
                    metal, fam not in previous, fam in BURSTABLE, name in FREE_TIER, count, size, kind, nvme])
    for fam, sizes in SUPPLEMENT.items():
        for size, vcpus, gib in sizes:
            metal = size.startswith("metal")
            out.append([f"{fam}.{size}", vcpus, gib * 1024, "x86_64", "hvm", "legacy-bios,uefi",
                        "" if metal else "nitro", metal, True, False, False, 0, 0, "", False])
    out.sort(key=lambda r: r[0])
    w = sys.stdout.write
    w("# openami's EC2 instance type catalogue: written by scripts/instancetypes/extract.py\n")
    w("# from the Amazon EC2 User Guide (awsdocs/amazon-ec2-user-guide e3707c4, May 2023)\n")
    w("# and AWS's instance type pages for later families (2026-12-07). Do not edit by hand.\n")
    w("\t".join(COLUMNS) + "\n")
    for r in out:
        w("\t".join(str(c).lower() if isinstance(c, bool) else str(c) for c in r) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
