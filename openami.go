// Package openami is the vocabulary of openami, a self-hosted implementation
// of the Amazon Machine Image system.
//
// Everything else in the project speaks in these terms. An Account owns
// resources; each resource lives in exactly one Region, and a Region is a
// partition of every table and, later, of every block store. A caller is a
// Principal: the account and access key that signed a request, and the
// region its signature was scoped to. Resources are named by ids in AWS's
// form (key-0123456789abcdef0, ami-…, snap-…), and any resource may carry
// Tags.
//
// Errors are *Error values classified by Class. A package that fails wraps
// the cause with what it was doing and picks the class at the source; only
// the API layer turns a class into a wire error code. NotFound is also the
// answer for a resource that exists but that the caller may not see, so that
// private resources do not leak.
//
// This package depends on nothing else in openami; every other package may
// depend on it.
package openami

import "time"

// Principal is the authenticated caller of a request: the account whose
// access key signed it and the region the signature's credential scope
// named. The service layer takes a Principal as an explicit argument for
// every operation; nothing reads identity from a context.
type Principal struct {
	AccountID   string
	AccessKeyID string
	Region      string
	// Admin is true for the administrator account created on first start.
	Admin bool
	// Orgs are the organization and OU ARNs the account belongs to.
	Orgs []string
}

// Tag is a key and value attached to a resource.
type Tag struct {
	Key   string
	Value string
}

// ResourceType names a kind of resource, in EC2's spelling (the names used
// by TagSpecifications and by DescribeTags' resource-type filter).
type ResourceType string

// The resource types openami knows.
const (
	ResourceKeyPair       ResourceType = "key-pair"
	ResourceImage         ResourceType = "image"
	ResourceSnapshot      ResourceType = "snapshot"
	ResourceVolume        ResourceType = "volume"
	ResourceInstance      ResourceType = "instance"
	ResourceVPC           ResourceType = "vpc"
	ResourceSubnet        ResourceType = "subnet"
	ResourceSecurityGroup ResourceType = "security-group"
	// Resource types that appear only in errors.
	ResourceAccount   ResourceType = "account"
	ResourceAccessKey ResourceType = "access-key"
	ResourceRegion    ResourceType = "region"
	ResourceTag       ResourceType = "tag"
	ResourceFilter    ResourceType = "filter"
	// ResourceImageName, ResourceBlockDeviceMapping and
	// ResourceLaunchPermission name what was wrong in an image request.
	ResourceImageName          ResourceType = "image-name"
	ResourceBlockDeviceMapping ResourceType = "block-device-mapping"
	ResourceLaunchPermission   ResourceType = "launch-permission"
	ResourceRetentionRule      ResourceType = "retention-rule"
	// ResourceImageUnavailable: an image that was deregistered.
	ResourceImageUnavailable ResourceType = "image-unavailable"
	// ResourceClientToken: an idempotency token reused with different
	// parameters.
	ResourceClientToken ResourceType = "client-token"
	// ResourceSourceRegion: a copy's SourceRegion that is not served.
	ResourceSourceRegion ResourceType = "source-region"
	// ResourceIPAddress: an instance's private address.
	ResourceIPAddress ResourceType = "ip-address"
	// ResourceAttachment: a volume's attachment to an instance.
	ResourceAttachment ResourceType = "attachment"
	// ResourceZoneMismatch: a volume and an instance in different
	// availability zones.
	ResourceZoneMismatch ResourceType = "zone-mismatch"
	// ResourceKMSKey and ResourceKMSAlias: a KMS key and a KMS alias.
	ResourceKMSKey   ResourceType = "kms-key"
	ResourceKMSAlias ResourceType = "kms-alias"
	// ResourceKMSKeyDisabled: a KMS key that is disabled (IncorrectState).
	ResourceKMSKeyDisabled ResourceType = "kms-key-disabled"
	// ResourceDependency: a parameter given without one it depends on
	// (InvalidCombination → InvalidParameterDependency).
	ResourceDependency ResourceType = "parameter-dependency"
	// ResourceEBSKMSKey: the KMS key of EBS data, in EC2's words
	// (InvalidKMSKey.*).
	ResourceEBSKMSKey ResourceType = "ebs-kms-key"
	// ResourceKeyPolicy: a KMS key policy document.
	ResourceKeyPolicy ResourceType = "kms-key-policy"
	// ResourceCiphertext: a KMS ciphertext blob, or the encryption context
	// authenticated with it.
	ResourceCiphertext ResourceType = "kms-ciphertext"
	// ResourceIncorrectKey: a KMS key that is not the one that encrypted a
	// ciphertext.
	ResourceIncorrectKey ResourceType = "kms-incorrect-key"
	// ResourceKeyUsage: an algorithm or operation the key's usage does not
	// allow.
	ResourceKeyUsage ResourceType = "kms-key-usage"
	// ResourceKMSGrant: a KMS grant id that names no grant of the key
	// (InvalidGrantIdException).
	ResourceKMSGrant ResourceType = "kms-grant"
	// ResourceGrantToken: a KMS grant token that is not one openami issued
	// in the region (InvalidGrantTokenException).
	ResourceGrantToken ResourceType = "kms-grant-token"
	// ResourcePrincipalARN: a principal that is not a valid ARN
	// (InvalidArnException).
	ResourcePrincipalARN ResourceType = "principal-arn"
)

// Clock returns the current time. Services take one so that tests can move
// time (deprecation, expiry) without sleeping.
type Clock func() time.Time
