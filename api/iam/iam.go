// Package iam serves the part of AWS Identity and Access Management that
// bundles need: an account's signing certificates (UploadSigningCertificate,
// ListSigningCertificates, UpdateSigningCertificate,
// DeleteSigningCertificate), with which RegisterImage verifies who signed
// a manifest, and GetUser. It speaks IAM's Query protocol (API version
// 2010-05-08; signed service iam).
//
// openami has accounts, not IAM users: the one user is the account's root,
// and its name is the account's name (rules/identity/certificates.go).
// IAM is global: AWS's clients scope its signatures to us-east-1, which
// the server accepts for iam whether or not it serves that region
// (api/server.go).
package iam

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/rules/identity"
)

const namespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// Rules is what the handler asks of the rules of identity
// (*identity.Accounts of rules/identity).
type Rules interface {
	UploadSigningCertificate(ctx context.Context, p openami.Principal, userName, body string) (openami.SigningCertificate, string, error)
	ListSigningCertificates(ctx context.Context, p openami.Principal, userName, marker string, maxItems int) ([]openami.SigningCertificate, string, string, error)
	UpdateSigningCertificate(ctx context.Context, p openami.Principal, userName, id string, status openami.CertificateStatus) error
	DeleteSigningCertificate(ctx context.Context, p openami.Principal, userName, id string) error
	RootUser(ctx context.Context, p openami.Principal, userName string) (openami.Account, error)
}

var _ Rules = (*identity.Accounts)(nil)

// Handler serves the IAM protocol.
type Handler struct {
	rules   Rules
	actions map[string]action
}

// action answers one IAM action: it decodes its parameters, calls the
// rules and returns the result element (nil for an action without one).
type action func(ctx context.Context, params url.Values, p openami.Principal) (any, error)

// New returns the IAM protocol handler over the rules.
func New(rules Rules) *Handler {
	h := &Handler{rules: rules}
	h.actions = map[string]action{
		"UploadSigningCertificate": h.upload,
		"ListSigningCertificates":  h.list,
		"UpdateSigningCertificate": h.update,
		"DeleteSigningCertificate": h.delete,
		"GetUser":                  h.getUser,
	}
	return h
}

// Serve answers an authenticated IAM request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	params, err := awsquery.Params(r, body)
	if err != nil {
		return "", h.WriteError(w, requestID, err), err
	}
	name := params.Get("Action")
	act, ok := h.actions[name]
	if !ok {
		err := &awsquery.InvalidAction{Name: name}
		return name, h.WriteError(w, requestID, err), err
	}
	result, err := act(r.Context(), params, p)
	if err != nil {
		return name, h.WriteError(w, requestID, err), err
	}
	if err := awsquery.WriteResponse(w, namespace, name, requestID, result); err != nil {
		return name, h.WriteError(w, requestID, err), err
	}
	return name, "", nil
}

// timestamp is IAM's form of a time: ISO 8601 in UTC, to the second.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// certificate is IAM's SigningCertificate.
type certificate struct {
	UserName        string `xml:"UserName"`
	CertificateID   string `xml:"CertificateId"`
	CertificateBody string `xml:"CertificateBody"`
	Status          string `xml:"Status"`
	UploadDate      string `xml:"UploadDate"`
}

func certificateOf(c openami.SigningCertificate, user string) certificate {
	return certificate{UserName: user, CertificateID: c.ID, CertificateBody: c.Body, Status: string(c.Status), UploadDate: timestamp(c.UploadedAt)}
}

func (h *Handler) upload(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		UserName        string `query:"UserName"`
		CertificateBody string `query:"CertificateBody"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	c, user, err := h.rules.UploadSigningCertificate(ctx, p, in.UserName, in.CertificateBody)
	if err != nil {
		return nil, err
	}
	return struct {
		Certificate certificate `xml:"Certificate"`
	}{certificateOf(c, user)}, nil
}

func (h *Handler) list(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		UserName string `query:"UserName"`
		Marker   string `query:"Marker"`
		MaxItems int    `query:"MaxItems"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	if _, given := params["MaxItems"]; given && in.MaxItems == 0 {
		in.MaxItems = -1 // 0 given is out of range, not the default
	}
	certs, user, next, err := h.rules.ListSigningCertificates(ctx, p, in.UserName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := struct {
		UserName     string        `xml:"UserName,omitempty"`
		Certificates []certificate `xml:"Certificates>member"`
		IsTruncated  bool          `xml:"IsTruncated"`
		Marker       string        `xml:"Marker,omitempty"`
	}{UserName: user, IsTruncated: next != "", Marker: next}
	out.Certificates = []certificate{}
	for _, c := range certs {
		out.Certificates = append(out.Certificates, certificateOf(c, user))
	}
	return out, nil
}

func (h *Handler) update(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		UserName      string `query:"UserName"`
		CertificateID string `query:"CertificateId"`
		Status        string `query:"Status"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	return nil, h.rules.UpdateSigningCertificate(ctx, p, in.UserName, in.CertificateID, openami.CertificateStatus(in.Status))
}

func (h *Handler) delete(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		UserName      string `query:"UserName"`
		CertificateID string `query:"CertificateId"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	return nil, h.rules.DeleteSigningCertificate(ctx, p, in.UserName, in.CertificateID)
}

// getUser answers GetUser as IAM does for the root user's credentials:
// the account id as UserId, the root's ARN, and no UserName or Path.
func (h *Handler) getUser(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		UserName string `query:"UserName"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	acct, err := h.rules.RootUser(ctx, p, in.UserName)
	if err != nil {
		return nil, err
	}
	type user struct {
		UserID     string `xml:"UserId"`
		Arn        string `xml:"Arn"`
		CreateDate string `xml:"CreateDate"`
	}
	return struct {
		User user `xml:"User"`
	}{user{UserID: acct.ID, Arn: "arn:aws:iam::" + acct.ID + ":root", CreateDate: timestamp(acct.CreatedAt)}}, nil
}
