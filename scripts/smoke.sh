#!/usr/bin/env bash
# Smoke test: start a fresh openami exactly as the README tells a newcomer
# to, and drive it with the aws CLI and boto3 through the config and
# credentials files it writes. Prints "smoke: N passed, 0 failed" on success
# and exits non-zero on the first failure.
#
#   scripts/smoke.sh             builds ./cmd/openami first
#   OPENAMI_BIN=path scripts/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
bin=${OPENAMI_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/openami
  go build -o "$bin" ./cmd/openami
fi
data=$work/data
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
check() { # check DESCRIPTION COMMAND...: run the command, count a pass or die
  local what=$1; shift
  if ! out=$("$@" 2>&1); then
    echo "smoke: FAIL: $what" >&2
    echo "$out" >&2
    echo "--- server log" >&2; tail -20 "$work/server.log" >&2
    exit 1
  fi
  passed=$((passed + 1))
}

"$bin" serve --data-dir "$data" --listen 127.0.0.1:0 2>"$work/server.log" &
pid=$!
for _ in $(seq 100); do
  grep -q "openami listening on" "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
endpoint=$(sed -n 's/^openami listening on \(http:[^ ]*\).*/\1/p' "$work/server.log")
[ -n "$endpoint" ] || { echo "smoke: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

# Exactly what the banner tells the user to do.
export AWS_CONFIG_FILE=$data/config AWS_SHARED_CREDENTIALS_FILE=$data/credentials AWS_PROFILE=openami
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_REGION AWS_ENDPOINT_URL

check "credentials file is private" test "$(stat -c %a "$data/credentials")" = 600
check "describe-regions" bash -c 'aws ec2 describe-regions --query "Regions[].RegionName" --output text | grep -q "us-east-1"'
check "describe-availability-zones" bash -c 'aws ec2 describe-availability-zones --region us-west-2 --query "AvailabilityZones[].ZoneName" --output text | grep -q "us-west-2c"'
check "create-key-pair" bash -c "aws ec2 create-key-pair --key-name smoke --query KeyMaterial --output text > '$work/smoke.pem'"
chmod 600 "$work/smoke.pem"
if command -v ssh-keygen >/dev/null; then
  check "private key is a usable ssh key" ssh-keygen -y -f "$work/smoke.pem"
fi
kid=$(aws ec2 describe-key-pairs --key-names smoke --query "KeyPairs[0].KeyPairId" --output text)
check "create-tags" aws ec2 create-tags --resources "$kid" --tags Key=env,Value=smoke
check "describe-tags" bash -c "aws ec2 describe-tags --filters Name=resource-id,Values=$kid --query 'Tags[0].Value' --output text | grep -qx smoke"
check "duplicate key pair is refused" bash -c "! aws ec2 create-key-pair --key-name smoke 2>&1 >/dev/null | grep -q . || aws ec2 create-key-pair --key-name smoke 2>&1 | grep -q InvalidKeyPair.Duplicate"
check "sts get-caller-identity" bash -c 'aws sts get-caller-identity --query Account --output text | grep -Eq "^[0-9]{12}$"'

# A second account, created while the server runs.
acct=$("$bin" account create --data-dir "$data" --name smoke-user)
ak=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])' <<<"$acct")
sk=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])' <<<"$acct")
check "new account sees none of the admin's key pairs" bash -c "env -u AWS_PROFILE AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_CONFIG_FILE=/dev/null aws --region us-east-1 --endpoint-url $endpoint ec2 describe-key-pairs --query 'length(KeyPairs)' | grep -qx 0"

check "boto3" python3 - <<'PY'
import boto3
s = boto3.Session(profile_name="openami")
ec2 = s.client("ec2")
names = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
assert names == ["smoke"], names
pages = list(ec2.get_paginator("describe_tags").paginate())
assert pages[0]["Tags"][0]["Key"] == "env", pages
PY

# Block storage: a snapshot through the EBS direct API, a volume from it.
head -c 524288 /dev/urandom > "$work/block.bin"
sum=$(openssl dgst -sha256 -binary "$work/block.bin" | base64)
snap=$(aws ebs start-snapshot --volume-size 1 --description smoke --query SnapshotId --output text)
check "ebs put-snapshot-block" aws ebs put-snapshot-block --snapshot-id "$snap" --block-index 7 \
  --block-data "$work/block.bin" --data-length 524288 --checksum "$sum" --checksum-algorithm SHA256
check "ebs put-snapshot-block refuses a bad checksum" bash -c "aws ebs put-snapshot-block --snapshot-id $snap --block-index 8 \
  --block-data $work/block.bin --data-length 524288 --checksum AAAA --checksum-algorithm SHA256 2>&1 | grep -q ValidationException"
check "ebs complete-snapshot" aws ebs complete-snapshot --snapshot-id "$snap" --changed-blocks-count 1
for _ in $(seq 100); do
  [ "$(aws ec2 describe-snapshots --snapshot-ids "$snap" --query 'Snapshots[0].State' --output text)" = completed ] && break
  sleep 0.1
done
check "snapshot completed" bash -c "aws ec2 describe-snapshots --snapshot-ids $snap --query 'Snapshots[0].State' --output text | grep -qx completed"
token=$(aws ebs list-snapshot-blocks --snapshot-id "$snap" --query 'Blocks[0].BlockToken' --output text)
check "ebs get-snapshot-block returns the bytes" bash -c "aws ebs get-snapshot-block --snapshot-id $snap --block-index 7 --block-token '$token' '$work/out.bin' >/dev/null && cmp -s '$work/block.bin' '$work/out.bin'"
vol=$(aws ec2 create-volume --availability-zone us-east-1a --snapshot-id "$snap" --volume-type gp3 --query VolumeId --output text)
check "create-volume from the snapshot" bash -c "aws ec2 describe-volumes --volume-ids $vol --query 'Volumes[0].[Size,State]' --output text | grep -q '1.*available'"
check "create-snapshot of the volume" aws ec2 create-snapshot --volume-id "$vol" --description "from smoke"
check "copy-snapshot to another region" bash -c "aws ec2 copy-snapshot --region us-west-2 --source-region us-east-1 --source-snapshot-id $snap --query SnapshotId --output text | grep -q '^snap-'"
check "delete-volume" aws ec2 delete-volume --volume-id "$vol"
check "boto3 ebs" python3 - "$snap" <<'PY'
import sys, boto3
ebs = boto3.Session(profile_name="openami").client("ebs")
blocks = ebs.list_snapshot_blocks(SnapshotId=sys.argv[1])["Blocks"]
assert [b["BlockIndex"] for b in blocks] == [7], blocks
data = ebs.get_snapshot_block(SnapshotId=sys.argv[1], BlockIndex=7, BlockToken=blocks[0]["BlockToken"])["BlockData"].read()
assert len(data) == 524288
PY
# The README's image commands.
ami=$(aws ec2 register-image --name smoke-image --root-device-name /dev/xvda \
  --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$snap}" --query ImageId --output text)
check "register-image" bash -c "echo '$ami' | grep -q '^ami-'"
check "describe-images --owners self" bash -c "aws ec2 describe-images --owners self --query 'Images[0].State' --output text | grep -qx available"
check "modify-image-attribute" aws ec2 modify-image-attribute --image-id "$ami" --launch-permission "Add=[{UserId=123456789012}]"
# The README's instance commands.
iid=$(aws ec2 run-instances --image-id "$ami" --instance-type t3.micro --key-name smoke --query 'Instances[0].InstanceId' --output text)
check "run-instances" bash -c "echo '$iid' | grep -q '^i-'"
check "wait instance-running" aws ec2 wait instance-running --instance-ids "$iid"
check "describe-instances by state" bash -c "aws ec2 describe-instances --filters Name=instance-state-name,Values=running --query 'Reservations[0].Instances[0].InstanceId' --output text | grep -qx $iid"
golden=$(aws ec2 create-image --instance-id "$iid" --name smoke-golden --query ImageId --output text)
check "create-image" bash -c "echo '$golden' | grep -q '^ami-'"
check "wait image-available" aws ec2 wait image-available --image-ids "$golden"
copy=$(aws ec2 copy-image --region us-west-2 --source-region us-east-1 --source-image-id "$golden" --name smoke-copy --query ImageId --output text)
check "copy-image to another region" bash -c "echo '$copy' | grep -q '^ami-'"
check "wait image-available (the copy)" aws ec2 wait image-available --region us-west-2 --image-ids "$copy"
check "nbd socket is private" test "$(stat -c %a "$data/nbd.sock")" = 600
check "boto3 instances" python3 - "$iid" "$golden" <<'PY'
import sys, boto3
ec2 = boto3.Session(profile_name="openami").client("ec2")
inst = ec2.describe_instances(InstanceIds=[sys.argv[1]])["Reservations"][0]["Instances"][0]
assert inst["State"]["Name"] == "running" and inst["KeyName"] == "smoke", inst
img = ec2.describe_images(ImageIds=[sys.argv[2]])["Images"][0]
assert img["SourceInstanceId"] == sys.argv[1], img
ec2.stop_instances(InstanceIds=[sys.argv[1]])
ec2.get_waiter("instance_stopped").wait(InstanceIds=[sys.argv[1]], WaiterConfig={"Delay": 1})
PY
vpc=$(aws ec2 create-vpc --cidr-block 10.9.0.0/16 --query Vpc.VpcId --output text)
check "create-vpc" bash -c "echo '$vpc' | grep -q '^vpc-'"
subnet=$(aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.9.1.0/24 --query Subnet.SubnetId --output text)
check "create-subnet" bash -c "echo '$subnet' | grep -q '^subnet-'"
check "an overlapping subnet is refused" bash -c "aws ec2 create-subnet --vpc-id $vpc --cidr-block 10.9.1.128/25 2>&1 | grep -q InvalidSubnet.Conflict"
sg=$(aws ec2 create-security-group --group-name smoke --description "smoke test" --vpc-id "$vpc" --query GroupId --output text)
check "create-security-group" bash -c "echo '$sg' | grep -q '^sg-'"
check "authorize-security-group-ingress" aws ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 22 --cidr 0.0.0.0/0
check "describe-security-groups shows the rule" bash -c "aws ec2 describe-security-groups --group-ids $sg --query 'SecurityGroups[0].IpPermissions[0].FromPort' --output text | grep -qx 22"
check "revoke-security-group-ingress" aws ec2 revoke-security-group-ingress --group-id "$sg" --protocol tcp --port 22 --cidr 0.0.0.0/0
check "delete-security-group" aws ec2 delete-security-group --group-id "$sg"
check "delete-subnet" aws ec2 delete-subnet --subnet-id "$subnet"
check "delete-vpc" aws ec2 delete-vpc --vpc-id "$vpc"
check "terminate-instances" aws ec2 terminate-instances --instance-ids "$iid"
check "wait instance-terminated" aws ec2 wait instance-terminated --instance-ids "$iid"
check "deregister-image --delete-associated-snapshots" aws ec2 deregister-image --image-id "$ami" --delete-associated-snapshots
check "gc while serving" "$bin" gc --data-dir "$data"
check "fsck finds no damage" "$bin" fsck --data-dir "$data"

check "delete-key-pair" aws ec2 delete-key-pair --key-name smoke
check "key pair is gone" bash -c 'aws ec2 describe-key-pairs --query "length(KeyPairs)" | grep -qx 0'

check "account join an organization" bash -c "'$bin' account join --data-dir '$data' smoke-user --organization arn:aws:organizations::111122223333:organization/o-exampleorg1 | grep -q o-exampleorg1"
check "disable account" "$bin" account disable --data-dir "$data" smoke-user
check "disabled account is refused" bash -c "env -u AWS_PROFILE AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_CONFIG_FILE=/dev/null aws --region us-east-1 --endpoint-url $endpoint ec2 describe-regions 2>&1 | grep -q AuthFailure"

# KMS (docs/KMS.md): a key, an alias, a round trip with an encryption
# context, a data key, a grant to another account, and scheduled deletion.
kmskey=$(aws kms create-key --description smoke --query KeyMetadata.KeyId --output text)
check "kms create-key" bash -c "echo '$kmskey' | grep -Eq '^[0-9a-f-]{36}$'"
check "kms create-alias" aws kms create-alias --alias-name alias/smoke --target-key-id "$kmskey"
check "kms encrypt and decrypt" bash -c "printf secret > '$work/kms.txt'
  aws kms encrypt --key-id alias/smoke --plaintext 'fileb://$work/kms.txt' --encryption-context purpose=smoke \
    --query CiphertextBlob --output text | base64 -d > '$work/kms.bin'
  aws kms decrypt --ciphertext-blob 'fileb://$work/kms.bin' --encryption-context purpose=smoke \
    --query Plaintext --output text | base64 -d | grep -qx secret"
check "kms decrypt without the context fails" bash -c "aws kms decrypt --ciphertext-blob 'fileb://$work/kms.bin' 2>&1 | grep -q InvalidCiphertextException"
check "boto3 kms" python3 - <<'PY'
import boto3
kms = boto3.Session(profile_name="openami").client("kms")
dk = kms.generate_data_key(KeyId="alias/smoke", KeySpec="AES_128", EncryptionContext={"a": "b"})
out = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"a": "b"})
assert out["Plaintext"] == dk["Plaintext"] and len(dk["Plaintext"]) == 16, out
kms.disable_key(KeyId="alias/smoke")
try:
    kms.encrypt(KeyId="alias/smoke", Plaintext=b"x")
    raise SystemExit("encrypt with a disabled key succeeded")
except kms.exceptions.DisabledException:
    pass
kms.enable_key(KeyId="alias/smoke")
PY
check "kms generate-data-key" bash -c "aws kms generate-data-key --key-id alias/smoke --key-spec AES_256 --query Plaintext --output text | base64 -d | wc -c | grep -qx 32"
# EBS encryption (docs/ENCRYPTION.md): encryption by default with the
# managed key, a volume under a chosen key, an encrypted copy.
check "enable-ebs-encryption-by-default" bash -c "aws ec2 enable-ebs-encryption-by-default --query EbsEncryptionByDefault --output text | grep -qx True"
encvol=$(aws ec2 create-volume --availability-zone us-east-1a --size 1 --query VolumeId --output text)
check "volume encrypted by default under alias/aws/ebs" bash -c "aws ec2 describe-volumes --volume-ids $encvol --query 'Volumes[0].Encrypted' --output text | grep -qx True &&
  aws kms describe-key --key-id alias/aws/ebs --query KeyMetadata.KeyManager --output text | grep -qx AWS"
check "create-volume --kms-key-id" bash -c "aws ec2 create-volume --availability-zone us-east-1a --size 1 --encrypted --kms-key-id alias/smoke --query KmsKeyId --output text | grep -q ':key/$kmskey\$'"
check "create-volume --kms-key-id without --encrypted is refused" bash -c "aws ec2 create-volume --availability-zone us-east-1a --size 1 --kms-key-id alias/smoke 2>&1 | grep -q InvalidParameterDependency"
check "disable-ebs-encryption-by-default" aws ec2 disable-ebs-encryption-by-default
check "boto3 encrypted copy" python3 - "$golden" "$kmskey" <<'PY'
import sys, time, boto3
golden, key = sys.argv[1], sys.argv[2]
ec2 = boto3.Session(profile_name="openami").client("ec2")
img = ec2.copy_image(SourceImageId=golden, SourceRegion="us-east-1", Name="smoke-encrypted", Encrypted=True, KmsKeyId=key)["ImageId"]
ec2.get_waiter("image_available").wait(ImageIds=[img], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
ebs = ec2.describe_images(ImageIds=[img])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]
snap = ec2.describe_snapshots(SnapshotIds=[ebs["SnapshotId"]])["Snapshots"][0]
assert ebs["Encrypted"] and snap["Encrypted"] and snap["KmsKeyId"].endswith("key/" + key), snap
try:
    ec2.modify_image_attribute(ImageId=img, LaunchPermission={"Add": [{"Group": "all"}]})
    raise SystemExit("an encrypted image was made public")
except ec2.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValue", e
PY
# Grants: another account encrypts with the key through a grant, and is
# refused once it is revoked.
grantee=$("$bin" account create --data-dir "$data" --name smoke-grantee)
gid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["AccountId"])' <<<"$grantee")
gak=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])' <<<"$grantee")
gsk=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])' <<<"$grantee")
as_grantee() { env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$gak" AWS_SECRET_ACCESS_KEY="$gsk" AWS_CONFIG_FILE=/dev/null aws --region us-east-1 --endpoint-url "$endpoint" "$@"; }
export gak gsk endpoint
export -f as_grantee
kmsarn=$(aws kms describe-key --key-id "$kmskey" --query KeyMetadata.Arn --output text)
grant=$(aws kms create-grant --key-id "$kmskey" --grantee-principal "arn:aws:iam::$gid:root" \
  --operations Encrypt DescribeKey --constraints EncryptionContextSubset={purpose=smoke} --name smoke --query GrantId --output text)
check "kms list-grants" bash -c "aws kms list-grants --key-id '$kmskey' --query 'Grants[].GrantId' --output text | grep -qx '$grant'"
check "kms encrypt through a grant" bash -c "as_grantee kms encrypt --key-id '$kmsarn' --plaintext 'fileb://$work/kms.txt' --encryption-context purpose=smoke --query KeyId --output text | grep -qx '$kmsarn'"
check "kms grant constraints hold" bash -c "as_grantee kms encrypt --key-id '$kmsarn' --plaintext 'fileb://$work/kms.txt' 2>&1 | grep -q AccessDeniedException"
check "kms revoke-grant" aws kms revoke-grant --key-id "$kmskey" --grant-id "$grant"
check "kms revoked grant refuses" bash -c "as_grantee kms encrypt --key-id '$kmsarn' --plaintext 'fileb://$work/kms.txt' --encryption-context purpose=smoke 2>&1 | grep -q AccessDeniedException"
check "kms schedule-key-deletion" bash -c "aws kms schedule-key-deletion --key-id '$kmskey' --pending-window-in-days 7 --query KeyState --output text | grep -qx PendingDeletion"
# S3, as the README shows it, with the clients' default checksums.
head -c $((20 << 20)) /dev/urandom > "$work/s3.bin"
check "s3 mb" aws s3 mb s3://smoke-bucket
check "s3 cp up (multipart)" aws s3 cp "$work/s3.bin" s3://smoke-bucket/dir/s3.bin
check "s3 ls" bash -c "aws s3 ls --recursive s3://smoke-bucket | grep -q dir/s3.bin"
check "s3 cp down" bash -c "aws s3 cp s3://smoke-bucket/dir/s3.bin '$work/s3.out' && cmp -s '$work/s3.bin' '$work/s3.out'"
check "s3 another account is refused" bash -c "as_grantee s3api head-object --bucket smoke-bucket --key dir/s3.bin 2>&1 | grep -q 403"
check "boto3 s3 range" python3 - "$work/s3.bin" <<'PY'
import sys, boto3
s3 = boto3.Session(profile_name="openami").client("s3")
want = open(sys.argv[1], "rb").read()[5:15]
got = s3.get_object(Bucket="smoke-bucket", Key="dir/s3.bin", Range="bytes=5-14")["Body"].read()
assert got == want, (got, want)
PY
check "s3 rb --force" aws s3 rb --force s3://smoke-bucket
kill -TERM "$pid"
if wait "$pid"; then passed=$((passed + 1)); else echo "smoke: FAIL: server did not exit cleanly on SIGTERM" >&2; exit 1; fi
pid=
echo "smoke: $passed passed, 0 failed"
