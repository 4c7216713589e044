package openami

import (
	"strings"
	"time"
)

// ResourceParameter: an SSM Parameter Store parameter.
const ResourceParameter ResourceType = "parameter"

// ParameterType is the type of a parameter's value: String, StringList
// (comma-separated values) or SecureString (refused by openami: see
// docs/SSM.md).
type ParameterType string

// The parameter types.
const (
	ParameterString       ParameterType = "String"
	ParameterStringList   ParameterType = "StringList"
	ParameterSecureString ParameterType = "SecureString"
)

// The data types a parameter may declare: text (any value) or
// aws:ec2:image (an image id the writer may launch; EC2 checks it when it
// resolves the parameter).
const (
	DataTypeText     = "text"
	DataTypeEC2Image = "aws:ec2:image"
)

// PublicParameterOwner is the AccountID of the public parameters an
// operator publishes (openami parameter publish): every account of the
// region reads them, none writes them. They live under the public paths
// (PublicParameterPath).
const PublicParameterOwner = ""

// PublicParameterPath reports whether a parameter name is in the public
// namespace, whose parameters belong to the operator and every account
// reads: /aws/service/... (AWS's public parameters, such as
// /aws/service/debian/release/12/latest/amd64) and /openami/service/....
func PublicParameterPath(name string) bool {
	return strings.HasPrefix(name, "/aws/service/") || strings.HasPrefix(name, "/openami/service/")
}

// Parameter is one version of an SSM parameter: an account's (or the
// operator's public one, AccountID PublicParameterOwner) named value in a
// region. Each write makes a new version; every version is kept until the
// parameter is deleted.
type Parameter struct {
	Region    string
	AccountID string
	// Name is the parameter's full name: a path (/a/b/c, at most 15
	// levels) or a plain name, unique in its region and account.
	Name string
	// Version counts the writes of the name, from 1.
	Version  int64
	Type     ParameterType
	Value    string
	DataType string
	// Description and AllowedPattern are as the last write set them
	// (a write that omits them keeps the previous version's).
	Description    string
	AllowedPattern string
	// Tier is Standard: openami keeps no other.
	Tier string
	// Labels are this version's labels: each names one version of the
	// parameter at a time (NAME:LABEL selects it).
	Labels []string
	// Tags are the parameter's tags, given on its first write and
	// changed since: the latest version's are the parameter's.
	Tags []Tag
	// ModifiedAt is when this version was written, ModifiedBy by whom (an
	// ARN, or "openami" for the operator).
	ModifiedAt time.Time
	ModifiedBy string
}

// ARN returns the parameter's ARN, as SSM forms it: the name's leading
// slash is not repeated, and public parameters have no account.
func (p Parameter) ARN() string {
	return "arn:aws:ssm:" + p.Region + ":" + p.AccountID + ":parameter/" + strings.TrimPrefix(p.Name, "/")
}
