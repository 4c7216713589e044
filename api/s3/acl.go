package s3

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/objects"
)

// Group URIs of S3's ACLs.
const (
	allUsersURI  = "http://acs.amazonaws.com/groups/global/AllUsers"
	authUsersURI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	// ec2CanonicalID is the canonical id S3 shows for the grantee of
	// aws-exec-read (EC2's za-team), which openami calls GranteeEC2.
	ec2CanonicalID = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"
	xsiNS          = "http://www.w3.org/2001/XMLSchema-instance"
)

// permissions maps S3's permission names to openami's.
var permissions = map[string]openami.Permission{
	"READ": openami.PermRead, "WRITE": openami.PermWrite, "READ_ACP": openami.PermReadACP,
	"WRITE_ACP": openami.PermWriteACP, "FULL_CONTROL": openami.PermFullControl,
}

// grantHeaders maps the x-amz-grant-* headers to the permission each
// grants.
var grantHeaders = map[string]openami.Permission{
	"x-amz-grant-read": openami.PermRead, "x-amz-grant-write": openami.PermWrite, "x-amz-grant-read-acp": openami.PermReadACP,
	"x-amz-grant-write-acp": openami.PermWriteACP, "x-amz-grant-full-control": openami.PermFullControl,
}

// grantee returns the grantee an ACL names by canonical id (or account
// id) or group URI.
func grantee(id, uri string) (openami.Grantee, error) {
	switch {
	case uri == allUsersURI:
		return openami.Grantee{Kind: openami.GranteeAllUsers}, nil
	case uri == authUsersURI:
		return openami.Grantee{Kind: openami.GranteeAuthenticatedUsers}, nil
	case uri != "":
		return openami.Grantee{}, errorf(400, "InvalidArgument", "Invalid group uri")
	case id == ec2CanonicalID:
		return openami.Grantee{Kind: openami.GranteeEC2}, nil
	case id != "":
		return openami.Grantee{Kind: openami.GranteeAccount, AccountID: id}, nil
	}
	return openami.Grantee{}, errorf(400, "InvalidArgument", "A grantee must have an ID or a URI")
}

// aclFromHeaders reads a request's ACL: x-amz-acl, or x-amz-grant-*
// headers (id="…", uri="…"; emailAddress is not supported).
func aclFromHeaders(h http.Header) (objects.ACLInput, error) {
	in := objects.ACLInput{Canned: objects.CannedACL(h.Get("x-amz-acl"))}
	in.Explicit = in.Canned != ""
	if in.Canned != "" {
		if _, err := objects.Canned(in.Canned, ""); err != nil {
			return in, errorf(400, "InvalidArgument", "The canned ACL '"+string(in.Canned)+"' is not valid")
		}
	}
	for name, perm := range grantHeaders {
		v := h.Get(name)
		if v == "" {
			continue
		}
		in.Explicit = true
		for item := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				return in, errorf(400, "InvalidArgument", "Invalid grant header: "+name)
			}
			val = strings.Trim(val, `"`)
			var g openami.Grantee
			var err error
			switch strings.ToLower(k) {
			case "id":
				g, err = grantee(val, "")
			case "uri":
				g, err = grantee("", val)
			default:
				return in, errorf(501, "NotImplemented", "Grants by "+k+" are not implemented.")
			}
			if err != nil {
				return in, err
			}
			in.Grants = append(in.Grants, openami.ACLGrant{Grantee: g, Permission: perm})
		}
	}
	return in, nil
}

type granteeXML struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:",omitempty"`
	DisplayName string `xml:",omitempty"`
	URI         string `xml:",omitempty"`
}

type grantXML struct {
	Grantee    granteeXML
	Permission string
}

type policyXML struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	NS      string   `xml:"xmlns,attr"`
	Owner   owner
	Grants  []grantXML `xml:"AccessControlList>Grant"`
}

// writeACL answers an ACL: the owner's full control, then its grants.
func (rq *request) writeACL(ownerID string, acl openami.ACL) error {
	out := policyXML{NS: xmlNS, Owner: ownerOf(ownerID)}
	ow := ownerOf(ownerID)
	out.Grants = append(out.Grants, grantXML{granteeXML{XMLNSXSI: xsiNS, Type: "CanonicalUser", ID: ow.ID, DisplayName: ow.DisplayName}, "FULL_CONTROL"})
	for _, g := range acl.Grants {
		gx := granteeXML{XMLNSXSI: xsiNS}
		switch g.Grantee.Kind {
		case openami.GranteeAllUsers:
			gx.Type, gx.URI = "Group", allUsersURI
		case openami.GranteeAuthenticatedUsers:
			gx.Type, gx.URI = "Group", authUsersURI
		case openami.GranteeEC2:
			gx.Type, gx.ID, gx.DisplayName = "CanonicalUser", ec2CanonicalID, "za-team"
		default:
			o := ownerOf(g.Grantee.AccountID)
			gx.Type, gx.ID, gx.DisplayName = "CanonicalUser", o.ID, o.DisplayName
		}
		perm := ""
		for name, p := range permissions {
			if p == g.Permission {
				perm = name
			}
		}
		out.Grants = append(out.Grants, grantXML{gx, perm})
	}
	return rq.writeXML(out)
}

// readACL reads a PutBucketAcl or PutObjectAcl: the canned or grant
// headers, or else an AccessControlPolicy body. The owner's own full
// control grant in a body is implied, and dropped.
func (rq *request) readACL(ownerID string) (objects.ACLInput, error) {
	in, err := aclFromHeaders(rq.r.Header)
	if err != nil || in.Explicit {
		return in, err
	}
	var doc struct {
		Grants []struct {
			Grantee struct {
				Type string `xml:"type,attr"`
				ID   string
				URI  string
			}
			Permission string
		} `xml:"AccessControlList>Grant"`
	}
	if err := rq.decodeXML(&doc); err != nil {
		return in, err
	}
	in.Grants = []openami.ACLGrant{}
	for _, g := range doc.Grants {
		perm, ok := permissions[g.Permission]
		if !ok {
			return in, errorf(400, "MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema")
		}
		ge, err := grantee(g.Grantee.ID, g.Grantee.URI)
		if err != nil {
			return in, err
		}
		if ge.Kind == openami.GranteeAccount && (ge.AccountID == objects.CanonicalID(ownerID) || ge.AccountID == ownerID) && perm == openami.PermFullControl {
			continue
		}
		in.Grants = append(in.Grants, openami.ACLGrant{Grantee: ge, Permission: perm})
	}
	in.Explicit = true
	return in, nil
}

func (rq *request) getBucketACL() error {
	ownerID, acl, err := rq.h.rules.BucketACL(rq.ctx(), rq.c, rq.bucket)
	if err != nil {
		return err
	}
	return rq.writeACL(ownerID, acl)
}

func (rq *request) putBucketACL() error {
	in, err := rq.readACL(rq.c.Principal.AccountID)
	if err != nil {
		return err
	}
	if err := rq.h.rules.PutBucketACL(rq.ctx(), rq.c, rq.bucket, in); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (rq *request) getObjectACL() error {
	ownerID, acl, err := rq.h.rules.ObjectACL(rq.ctx(), rq.c, rq.bucket, rq.key)
	if err != nil {
		return err
	}
	return rq.writeACL(ownerID, acl)
}

func (rq *request) putObjectACL() error {
	in, err := rq.readACL(rq.c.Principal.AccountID)
	if err != nil {
		return err
	}
	if err := rq.h.rules.PutObjectACL(rq.ctx(), rq.c, rq.bucket, rq.key, in); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}
