package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Interface names: a bridge per VPC and a tap per instance, in the VPC's
// namespace, and a veth per VPC on the host, each a prefix and 12
// hexadecimal digits of its VPC's or instance's id (15 characters:
// IFNAMSIZ is 16 with the terminating NUL). The prefixes are what
// openami recognizes as its own when it tidies up at start.
const (
	BridgePrefix = "oab"
	TapPrefix    = "oat"
	VethPrefix   = "oav"
)

// nsUplink is the name, inside a VPC's namespace, of its veth's end.
const nsUplink = "host"

// BridgeName returns the name of a VPC's bridge: vpc-0a1b2c3d4e5f67890
// → oab0a1b2c3d4e5f.
func BridgeName(vpcID string) string { return BridgePrefix + idDigits(vpcID) }

// VethName returns the name of the host's end of a VPC's veth to its
// namespace: vpc-0a1b2c3d4e5f67890 → oav0a1b2c3d4e5f.
func VethName(vpcID string) string { return VethPrefix + idDigits(vpcID) }

// TapName returns the name of an instance's tap: i-0a1b2c3d4e5f67890 →
// oat0a1b2c3d4e5f.
func TapName(instanceID string) string { return TapPrefix + idDigits(instanceID) }

// idDigits returns the first 12 hex digits of an id's suffix (after its
// "vpc-" or "i-"), or of a SHA-256 of the id when the suffix is not that
// (ids are random or derived hashes, so 48 bits tell them apart).
func idDigits(id string) string {
	_, suffix, _ := strings.Cut(id, "-")
	if len(suffix) >= 12 {
		if _, err := hex.DecodeString(suffix[:12]); err == nil {
			return strings.ToLower(suffix[:12])
		}
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}
