package objects

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/openami/openami"
)

// CannedACL names one of S3's canned ACLs.
type CannedACL string

// The canned ACLs.
const (
	CannedPrivate                CannedACL = "private"
	CannedPublicRead             CannedACL = "public-read"
	CannedPublicReadWrite        CannedACL = "public-read-write"
	CannedAuthenticatedRead      CannedACL = "authenticated-read"
	CannedBucketOwnerRead        CannedACL = "bucket-owner-read"
	CannedBucketOwnerFullControl CannedACL = "bucket-owner-full-control"
	CannedAWSExecRead            CannedACL = "aws-exec-read"
)

// Canned returns the ACL a canned ACL stands for, on a resource of a
// bucket owned by bucketOwner (bucket-owner-read and -full-control grant
// that account); Malformed for an unknown name.
func Canned(name CannedACL, bucketOwner string) (openami.ACL, error) {
	g := func(k openami.GranteeKind, acct string, p openami.Permission) openami.ACLGrant {
		return openami.ACLGrant{Grantee: openami.Grantee{Kind: k, AccountID: acct}, Permission: p}
	}
	switch name {
	case CannedPrivate, "":
		return openami.ACL{}, nil
	case CannedPublicRead:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeAllUsers, "", openami.PermRead)}}, nil
	case CannedPublicReadWrite:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeAllUsers, "", openami.PermRead), g(openami.GranteeAllUsers, "", openami.PermWrite)}}, nil
	case CannedAuthenticatedRead:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeAuthenticatedUsers, "", openami.PermRead)}}, nil
	case CannedBucketOwnerRead:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeAccount, bucketOwner, openami.PermRead)}}, nil
	case CannedBucketOwnerFullControl:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeAccount, bucketOwner, openami.PermFullControl)}}, nil
	case CannedAWSExecRead:
		return openami.ACL{Grants: []openami.ACLGrant{g(openami.GranteeEC2, "", openami.PermRead)}}, nil
	}
	return openami.ACL{}, openami.Errorf(openami.InvalidParameter, "", "The canned ACL %q is not valid", string(name))
}

// CanonicalID is the canonical user id of an account, as S3's ACLs name
// owners and grantees: 64 hex digits derived from the account id.
func CanonicalID(accountID string) string {
	sum := sha256.Sum256([]byte("openami canonical user " + accountID))
	return hex.EncodeToString(sum[:])
}

// ACLInput is a requested ACL: a canned one, or grants (Canned "" and
// Grants nil means the default, private). Grants name accounts by
// account id or canonical id (resolved by the rules).
type ACLInput struct {
	Canned CannedACL
	Grants []openami.ACLGrant
	// Explicit is true when the request carried an ACL at all.
	Explicit bool
}

// resolve returns the ACL in, on a resource of a bucket owned by
// bucketOwner, with grantees named by canonical id turned into account
// ids through accounts (every account id). A grant of an unknown account
// is InvalidParameter.
func (in ACLInput) resolve(bucketOwner string, accounts func() ([]string, error)) (openami.ACL, error) {
	if in.Canned != "" && len(in.Grants) > 0 {
		return openami.ACL{}, openami.Errorf(openami.InvalidParameter, "", "Specifying both Canned ACLs and Header Grants is not allowed")
	}
	if len(in.Grants) == 0 {
		return Canned(in.Canned, bucketOwner)
	}
	var ids []string
	out := openami.ACL{}
	for _, g := range in.Grants {
		switch g.Permission {
		case openami.PermRead, openami.PermWrite, openami.PermReadACP, openami.PermWriteACP, openami.PermFullControl:
		default:
			return openami.ACL{}, openami.Errorf(openami.Malformed, "", "The permission %q is not valid", string(g.Permission))
		}
		if g.Grantee.Kind == openami.GranteeAccount {
			if ids == nil {
				var err error
				if ids, err = accounts(); err != nil {
					return openami.ACL{}, err
				}
			}
			found := ""
			for _, id := range ids {
				if id == g.Grantee.AccountID || CanonicalID(id) == g.Grantee.AccountID {
					found = id
				}
			}
			if found == "" {
				return openami.ACL{}, openami.Errorf(openami.InvalidParameter, "", "Invalid id")
			}
			g.Grantee.AccountID = found
		}
		out.Grants = append(out.Grants, g)
	}
	return out, nil
}

// grants reports whether acl grants c the permission perm (full control
// grants every permission).
func grants(acl openami.ACL, c Caller, perm openami.Permission) bool {
	for _, g := range acl.Grants {
		if g.Permission != perm && g.Permission != openami.PermFullControl {
			continue
		}
		switch g.Grantee.Kind {
		case openami.GranteeAllUsers:
			return true
		case openami.GranteeAuthenticatedUsers:
			// EC2 is one of them: on AWS it reads bundles as an AWS
			// account of its own (za-team), so authenticated-read
			// bundles launch.
			if c.account() != "" || c.EC2 {
				return true
			}
		case openami.GranteeAccount:
			if c.account() != "" && c.account() == g.Grantee.AccountID {
				return true
			}
		case openami.GranteeEC2:
			if c.EC2 {
				return true
			}
		}
	}
	return false
}

// Actions, as bucket policies name them.
const (
	ActGetObject            = "s3:GetObject"
	ActPutObject            = "s3:PutObject"
	ActDeleteObject         = "s3:DeleteObject"
	ActListBucket           = "s3:ListBucket"
	ActListUploads          = "s3:ListBucketMultipartUploads"
	ActListParts            = "s3:ListMultipartUploadParts"
	ActAbortUpload          = "s3:AbortMultipartUpload"
	ActGetObjectACL         = "s3:GetObjectAcl"
	ActPutObjectACL         = "s3:PutObjectAcl"
	ActGetBucketACL         = "s3:GetBucketAcl"
	ActPutBucketACL         = "s3:PutBucketAcl"
	ActGetBucketLocation    = "s3:GetBucketLocation"
	ActGetBucketPolicy      = "s3:GetBucketPolicy"
	ActPutBucketPolicy      = "s3:PutBucketPolicy"
	ActDeleteBucketPolicy   = "s3:DeleteBucketPolicy"
	ActDeleteBucket         = "s3:DeleteBucket"
	ActListAllMyBuckets     = "s3:ListAllMyBuckets"
	ActCreateBucket         = "s3:CreateBucket"
	ActGetObjectAttributes  = "s3:GetObjectAttributes"
	ActGetBucketOwnerships  = "s3:GetBucketOwnershipControls"
	ActGetBucketPublicBlock = "s3:GetBucketPublicAccessBlock"
)

// knownActions are the actions a policy may name (by name or pattern).
var knownActions = []string{ActGetObject, ActPutObject, ActDeleteObject, ActListBucket, ActListUploads, ActListParts,
	ActAbortUpload, ActGetObjectACL, ActPutObjectACL, ActGetBucketACL, ActPutBucketACL, ActGetBucketLocation,
	ActGetBucketPolicy, ActPutBucketPolicy, ActDeleteBucketPolicy, ActDeleteBucket, ActListAllMyBuckets, ActCreateBucket,
	ActGetObjectAttributes, ActGetBucketOwnerships, ActGetBucketPublicBlock,
	ActGetObjectTagging, ActPutObjectTagging, ActDeleteObjectTagging}

// access is one question of authorization: may the caller do action to
// resource (arn:aws:s3:::bucket or arn:aws:s3:::bucket/key), which owner
// owns and acl covers, asking the permission perm of the ACL.
type access struct {
	action   string
	resource string
	owner    string
	acl      openami.ACL
	perm     openami.Permission
}

// allowed decides an access of c under bucket b's policy: an explicit
// Deny refuses; the owner may; then the ACL's grant, then the policy's
// Allow. It returns an Unauthorized error when refused.
func allowed(b openami.Bucket, c Caller, a access) error {
	p, err := parsePolicy(b.Policy, b.Name)
	if err != nil {
		// A stored policy was checked when it was put.
		return err
	}
	deny, allow := p.decide(c, a.action, a.resource)
	switch {
	case deny:
	case c.account() != "" && c.account() == a.owner:
		return nil
	case a.perm != "" && grants(a.acl, c, a.perm):
		return nil
	case allow:
		return nil
	}
	return openami.Errorf(openami.Unauthorized, "", "Access Denied")
}

func bucketARN(name string) string        { return "arn:aws:s3:::" + name }
func objectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }
func isOwner(c Caller, owner string) bool { return c.account() != "" && c.account() == owner }
func onlyOwner(c Caller, owner string) error {
	if isOwner(c, owner) {
		return nil
	}
	return openami.Errorf(openami.Unauthorized, "", "Access Denied")
}
