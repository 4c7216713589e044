// Package imds is the instance metadata service: what a guest reads from
// http://169.254.169.254/ about its own instance. One Handler serves one
// instance (the qemu runtime gives each VM its own socket and handler, so
// a guest can only ever reach its own metadata).
//
// It speaks IMDSv1 (plain GETs) and IMDSv2 (PUT /latest/api/token with
// X-aws-ec2-metadata-token-ttl-seconds, then the token in
// X-aws-ec2-metadata-token): GETs without a token are 401 when the
// instance's HttpTokens is required (which the image's ImdsSupport v2.0
// sets at launch); a token that is not valid is 401 either way. With
// HttpEndpoint disabled nothing is answered: the connection is closed.
// Paths and answers follow EC2's: directory listings one name per line,
// directories with a trailing slash; 404 for what is not there, user-data
// included when the instance has none.
package imds

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// Source is where a Handler reads an instance's metadata, on every
// request (*instances.Machines of rules/instances).
type Source interface {
	InstanceMetadata(ctx context.Context, region, id string) (instances.InstanceMetadata, error)
}

// The rules of rules/instances are a Source.
var _ Source = (*instances.Machines)(nil)

// Handler serves one instance's metadata.
type Handler struct {
	src        Source
	region, id string
	secret     []byte
	now        func() time.Time
}

// New returns the metadata service of one instance. Its IMDSv2 tokens are
// signed with a key of its own, so a token is good for this instance only
// and only until this handler is replaced (a VM's restart).
func New(src Source, region, instanceID string) *Handler {
	secret := make([]byte, 32)
	rand.Read(secret)
	return &Handler{src: src, region: region, id: instanceID, secret: secret, now: time.Now}
}

// Token TTL bounds, in seconds, as on EC2.
const (
	minTTL = 1
	maxTTL = 21600
)

var versionPath = regexp.MustCompile(`^/(latest|\d{4}-\d{2}-\d{2})(/.*)?$`)

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Not r.Context(): a guest that half-closes its side after the
	// request (an HTTP/1.0 client over nc) would cancel it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	md, err := h.src.InstanceMetadata(ctx, h.region, h.id)
	if err != nil {
		if errors.Is(err, openami.ErrNotFound) {
			hangUp(w)
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if md.Instance.MetadataOptions.HttpEndpoint == "disabled" {
		hangUp(w)
		return
	}
	w.Header().Set("Server", "EC2ws")
	if r.URL.Path == "/latest/api/token" {
		h.issueToken(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if tok := r.Header.Get("X-aws-ec2-metadata-token"); tok != "" {
		if !h.validToken(tok) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
	} else if md.Instance.MetadataOptions.HttpTokens == "required" {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/" {
		text(w, "latest")
		return
	}
	m := versionPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		notFound(w)
		return
	}
	rest := strings.TrimPrefix(m[2], "/")
	switch {
	case rest == "":
		text(w, "dynamic\nmeta-data\nuser-data")
	case rest == "user-data" || rest == "user-data/":
		if len(md.Instance.UserData) == 0 {
			notFound(w)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(md.Instance.UserData)
	case rest == "meta-data" || strings.HasPrefix(rest, "meta-data/"):
		serveTree(w, metaData(md), strings.TrimPrefix(strings.TrimPrefix(rest, "meta-data"), "/"))
	case rest == "dynamic" || strings.HasPrefix(rest, "dynamic/"):
		serveTree(w, dynamic(md), strings.TrimPrefix(strings.TrimPrefix(rest, "dynamic"), "/"))
	default:
		notFound(w)
	}
}

// issueToken answers PUT /latest/api/token: a token for the TTL asked in
// X-aws-ec2-metadata-token-ttl-seconds (1–21600 s; 400 otherwise). As on
// EC2, a request with X-Forwarded-For is refused (403): it came through a
// proxy, which IMDSv2 exists to keep out.
func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", "PUT")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < minTTL || ttl > maxTTL {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	exp := h.now().Add(time.Duration(ttl) * time.Second).Unix()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp))
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(b[:])
	tok := base64.RawURLEncoding.EncodeToString(append(b[:], mac.Sum(nil)...))
	w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
	text(w, tok)
}

// validToken reports whether tok is one of this handler's and unexpired.
func (h *Handler) validToken(tok string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 8+sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(raw[:8])
	if !hmac.Equal(mac.Sum(nil), raw[8:]) {
		return false
	}
	return h.now().Unix() < int64(binary.BigEndian.Uint64(raw[:8]))
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	http.Error(w, "", http.StatusServiceUnavailable)
}

func text(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(s))
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>404 - Not Found</title>
 </head>
 <body>
  <h1>404 - Not Found</h1>
 </body>
</html>
`))
}

// node is a metadata tree: a leaf holds a value; a directory holds named
// children. Listing names may differ from path names: public-keys/ lists
// "0=KEYNAME" for the path "0".
type node struct {
	value    *string
	children map[string]*node
	listing  []string // overrides the default listing (sorted names)
}

func leaf(v string) *node { return &node{value: &v} }

func dir(children map[string]*node) *node { return &node{children: children} }

// serveTree answers a path inside a tree.
func serveTree(w http.ResponseWriter, root *node, path string) {
	n := root
	for _, part := range strings.Split(path, "/") {
		if part == "" {
			continue
		}
		if n.children == nil || n.children[part] == nil {
			notFound(w)
			return
		}
		n = n.children[part]
	}
	if n.value != nil {
		if strings.HasSuffix(path, "/") {
			notFound(w)
			return
		}
		text(w, *n.value)
		return
	}
	if n.listing != nil {
		text(w, strings.Join(n.listing, "\n"))
		return
	}
	names := make([]string, 0, len(n.children))
	for name, c := range n.children {
		if c.value == nil {
			name += "/"
		}
		names = append(names, name)
	}
	slices.Sort(names)
	text(w, strings.Join(names, "\n"))
}

// shortDevice is how the metadata names a device: without /dev/.
func shortDevice(d string) string { return strings.TrimPrefix(d, "/dev/") }

// metaData builds the meta-data tree of an instance.
func metaData(md instances.InstanceMetadata) *node {
	i := md.Instance
	host := instances.PrivateDNSName(i.Region, i.PrivateIP)
	t := map[string]*node{
		"ami-id":              leaf(i.ImageID),
		"ami-launch-index":    leaf(strconv.Itoa(i.AmiLaunchIndex)),
		"ami-manifest-path":   leaf("(unknown)"),
		"hostname":            leaf(host),
		"instance-action":     leaf("none"),
		"instance-id":         leaf(i.ID),
		"instance-life-cycle": leaf("on-demand"),
		"instance-type":       leaf(i.InstanceType),
		"local-hostname":      leaf(host),
		"local-ipv4":          leaf(i.PrivateIP),
		"mac":                 leaf(i.MacAddress),
		"reservation-id":      leaf(i.ReservationID),
		"security-groups":     leaf(strings.Join(md.SecurityGroups, "\n")),
		"placement": dir(map[string]*node{
			"availability-zone":    leaf(i.AvailabilityZone),
			"availability-zone-id": leaf(md.AvailabilityZoneID),
			"region":               leaf(i.Region),
		}),
		"services": dir(map[string]*node{
			"domain":    leaf("amazonaws.com"),
			"partition": leaf("aws"),
		}),
	}
	if i.KernelID != "" {
		t["kernel-id"] = leaf(i.KernelID)
	}
	if i.RamdiskID != "" {
		t["ramdisk-id"] = leaf(i.RamdiskID)
	}
	if len(md.ImageProductCodes) > 0 {
		var codes []string
		for _, c := range md.ImageProductCodes {
			codes = append(codes, c.ID)
		}
		t["product-codes"] = leaf(strings.Join(codes, "\n"))
	}
	// block-device-mapping: ami and root name the root device, ebsN the
	// other EBS volumes in device order, ephemeralN the instance stores.
	bdm := map[string]*node{"ami": leaf(shortDevice(i.RootDeviceName)), "root": leaf(i.RootDeviceName)}
	var others []string
	for _, b := range i.BlockDevices {
		if b.DeviceName != i.RootDeviceName {
			others = append(others, b.DeviceName)
		}
	}
	slices.Sort(others)
	for k, d := range others {
		bdm["ebs"+strconv.Itoa(k+1)] = leaf(shortDevice(d))
	}
	for _, st := range i.InstanceStores {
		bdm[st.VirtualName] = leaf(shortDevice(st.DeviceName))
	}
	t["block-device-mapping"] = dir(bdm)
	if md.PublicKey != "" {
		t["public-keys"] = &node{
			children: map[string]*node{"0": dir(map[string]*node{"openssh-key": leaf(md.PublicKey + "\n")})},
			listing:  []string{"0=" + i.KeyName},
		}
	}
	if i.PublicIP != "" {
		t["public-hostname"] = leaf(instances.PublicDNSName(i.Region, i.PublicIP))
		t["public-ipv4"] = leaf(i.PublicIP)
	}
	if i.MacAddress != "" {
		t["network"] = dir(map[string]*node{"interfaces": dir(map[string]*node{
			"macs": dir(map[string]*node{i.MacAddress: networkInterface(md, host)}),
		})})
	}
	if md.Tags != nil {
		tags := map[string]*node{}
		for _, tag := range md.Tags {
			tags[tag.Key] = leaf(tag.Value)
		}
		t["tags"] = dir(map[string]*node{"instance": dir(tags)})
	}
	return dir(t)
}

// networkInterface builds network/interfaces/macs/MAC/, the instance's
// one network interface (device 0). What it lacks is not listed, so its
// path is 404 as on EC2: public-hostname, public-ipv4s and
// ipv4-associations/ without a public address, the CIDR blocks of a
// subnet or VPC the rules did not find.
func networkInterface(md instances.InstanceMetadata, host string) *node {
	i := md.Instance
	n := map[string]*node{
		"device-number":      leaf("0"),
		"interface-id":       leaf("eni-" + strings.TrimPrefix(i.ID, "i-")),
		"local-hostname":     leaf(host),
		"local-ipv4s":        leaf(i.PrivateIP),
		"mac":                leaf(i.MacAddress),
		"owner-id":           leaf(i.AccountID),
		"security-group-ids": leaf(strings.Join(i.SecurityGroupIDs, "\n")),
		"security-groups":    leaf(strings.Join(md.SecurityGroups, "\n")),
		"subnet-id":          leaf(i.SubnetID),
		"vpc-id":             leaf(i.VpcID),
	}
	if i.PublicIP != "" {
		n["public-hostname"] = leaf(instances.PublicDNSName(i.Region, i.PublicIP))
		n["public-ipv4s"] = leaf(i.PublicIP)
		n["ipv4-associations"] = dir(map[string]*node{i.PublicIP: leaf(i.PrivateIP)})
	}
	if md.SubnetCIDR != "" {
		n["subnet-ipv4-cidr-block"] = leaf(md.SubnetCIDR)
	}
	if len(md.VPCCIDRs) > 0 {
		n["vpc-ipv4-cidr-block"] = leaf(md.VPCCIDRs[0])
		n["vpc-ipv4-cidr-blocks"] = leaf(strings.Join(md.VPCCIDRs, "\n"))
	}
	return dir(n)
}

// IdentityDocument is dynamic/instance-identity/document, EC2's JSON.
type IdentityDocument struct {
	AccountID               string   `json:"accountId"`
	Architecture            string   `json:"architecture"`
	AvailabilityZone        string   `json:"availabilityZone"`
	BillingProducts         []string `json:"billingProducts"`
	DevpayProductCodes      []string `json:"devpayProductCodes"`
	MarketplaceProductCodes []string `json:"marketplaceProductCodes"`
	ImageID                 string   `json:"imageId"`
	InstanceID              string   `json:"instanceId"`
	InstanceType            string   `json:"instanceType"`
	KernelID                *string  `json:"kernelId"`
	PendingTime             string   `json:"pendingTime"`
	PrivateIP               string   `json:"privateIp"`
	RamdiskID               *string  `json:"ramdiskId"`
	Region                  string   `json:"region"`
	Version                 string   `json:"version"`
}

// dynamic builds the dynamic tree: the instance identity document.
func dynamic(md instances.InstanceMetadata) *node {
	i := md.Instance
	doc := IdentityDocument{
		AccountID: i.AccountID, Architecture: i.Architecture, AvailabilityZone: i.AvailabilityZone,
		ImageID: i.ImageID, InstanceID: i.ID, InstanceType: i.InstanceType,
		PendingTime: i.LaunchTime.UTC().Format("2006-01-02T15:04:05Z"), PrivateIP: i.PrivateIP,
		Region: i.Region, Version: "2017-09-30",
	}
	if i.KernelID != "" {
		doc.KernelID = &i.KernelID
	}
	if i.RamdiskID != "" {
		doc.RamdiskID = &i.RamdiskID
	}
	for _, c := range md.ImageProductCodes {
		doc.MarketplaceProductCodes = append(doc.MarketplaceProductCodes, c.ID)
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return dir(map[string]*node{
		"instance-identity": dir(map[string]*node{"document": leaf(string(b))}),
	})
}
