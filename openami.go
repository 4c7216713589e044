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

// TagKey selects a tag for removal: by key alone, or by key and value
// when Value is not nil (DeleteTags).
type TagKey struct {
	Key   string
	Value *string
}

// TagRow is one tag of one resource, as a listing of an account's tags
// (DescribeTags) returns it.
type TagRow struct {
	ResourceID   string
	ResourceType ResourceType
	Key          string
	Value        string
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
	// ResourceSecurityGroupRule: one rule of a security group (sgr-…).
	ResourceSecurityGroupRule ResourceType = "security-group-rule"
	// ResourceRouteTable and ResourceNetworkACL: a VPC's main route
	// table and default network ACL.
	ResourceRouteTable ResourceType = "route-table"
	ResourceNetworkACL ResourceType = "network-acl"
	// ResourceNetworkInterface: an instance's network interface.
	ResourceNetworkInterface ResourceType = "network-interface"
	// Resource types that appear only in errors.
	ResourceAccount       ResourceType = "account"
	ResourceAccessKey     ResourceType = "access-key"
	ResourceRegion        ResourceType = "region"
	ResourceTag           ResourceType = "tag"
	ResourceFilter        ResourceType = "filter"
	ResourceRetentionRule ResourceType = "retention-rule"
	// ResourceKMSKey, ResourceKMSAlias and ResourceKMSGrant: a KMS key, a
	// KMS alias and a grant of a KMS key.
	ResourceKMSKey   ResourceType = "kms-key"
	ResourceKMSAlias ResourceType = "kms-alias"
	ResourceKMSGrant ResourceType = "kms-grant"
	// ResourceAttachment: a volume's attachment to an instance.
	ResourceAttachment ResourceType = "attachment"
	// ResourceSigningCertificate: an account's signing certificate (IAM's
	// UploadSigningCertificate).
	ResourceSigningCertificate ResourceType = "signing-certificate"
	// ResourceRegionKey: a region's EC2 key and certificate.
	ResourceRegionKey ResourceType = "region-key"
	// ResourceExportTask: an ExportImage task.
	ResourceExportTask ResourceType = "export-image-task"
)

// Clock returns the current time. Services take one so that tests can move
// time (deprecation, expiry) without sleeping.
type Clock func() time.Time
