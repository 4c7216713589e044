// Package ec2 serves the EC2 Query API (version 2016-11-15): form-encoded
// requests in, XML responses out, errors in the EC2 envelope. Each action
// decodes its parameters with api/awsquery into a struct that names the
// wire parameters, calls one service method, and encodes the result into
// a struct that names the wire elements.
package ec2

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/instances"
)

// namespace is the XML namespace of EC2 responses; AWS writes it with a
// trailing slash.
const namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Handler serves the EC2 protocol.
type Handler struct {
	tags      Tags      // tags of every resource (the service)
	identity  Identity  // key pairs, regions and zones (rules/identity)
	ebs       EBS       // snapshots, volumes and EBS encryption (rules/ebs)
	images    Images    // images, Allowed AMIs and the Recycle Bin's images (rules/images)
	instances Instances // instances, attachments, CreateImage and instance types (rules/instances)
	network   Network   // VPCs, subnets, security groups (rules/network)
	templates Templates // launch templates (rules/templates)
	imports   Imports   // import tasks (rules/imports)
	exports   Exports   // image export tasks (rules/exports); SetExports
	actions   map[string]action
}

// call is one request on its way through an action.
type call struct {
	ctx    context.Context
	p      openami.Principal
	params url.Values
	host   string
	scheme string
}

// decode fills in, a pointer to an action's input struct, from the request
// parameters, and answers DryRun: if in has a DryRun field set to true, it
// returns the DryRunOperation error after a successful decode, so actions
// must call decode after any check a dry run should make… which is none
// today: a dry run checks permissions, and openami's permissions are
// checked by the service on the real call.
func (c *call) decode(in any) error {
	if err := awsquery.Decode(c.params, in); err != nil {
		return err
	}
	if d, ok := in.(interface{ dryRun() bool }); ok && d.dryRun() {
		return openami.Errorf(openami.DryRun, "", "Request would have succeeded, but DryRun flag is set.")
	}
	return nil
}

// dryRunParam is embedded in every input struct of an action that takes
// DryRun.
type dryRunParam struct {
	DryRun bool `query:"DryRun"`
}

func (d *dryRunParam) dryRun() bool { return d.DryRun }

// action serves one EC2 action and returns the response to encode, whose
// type embeds response.
type action func(c *call) (responder, error)

// New returns the EC2 protocol handler, calling tags for tags, id for key
// pairs, regions and zones, blocks for snapshots, volumes and EBS
// encryption, imgs for images, machines for instances, their
// attachments and images and instance types, nets for VPCs, subnets
// and security groups, tpls for launch templates and imps for import tasks.
func New(tags Tags, id Identity, blocks EBS, imgs Images, machines Instances, nets Network, tpls Templates, imps Imports) *Handler {
	h := &Handler{tags: tags, identity: id, ebs: blocks, images: imgs, instances: machines, network: nets, templates: tpls, imports: imps}
	h.actions = map[string]action{
		"ImportSnapshot":                 h.importSnapshot,
		"ImportImage":                    h.importImage,
		"DescribeImportSnapshotTasks":    h.describeImportSnapshotTasks,
		"DescribeImportImageTasks":       h.describeImportImageTasks,
		"CancelImportTask":               h.cancelImportTask,
		"CreateLaunchTemplate":           h.createLaunchTemplate,
		"CreateLaunchTemplateVersion":    h.createLaunchTemplateVersion,
		"ModifyLaunchTemplate":           h.modifyLaunchTemplate,
		"DeleteLaunchTemplate":           h.deleteLaunchTemplate,
		"DeleteLaunchTemplateVersions":   h.deleteLaunchTemplateVersions,
		"DescribeLaunchTemplates":        h.describeLaunchTemplates,
		"DescribeLaunchTemplateVersions": h.describeLaunchTemplateVersions,
		"GetLaunchTemplateData":          h.getLaunchTemplateData,
		"DescribeRegions":                h.describeRegions,
		"DescribeAvailabilityZones":      h.describeAvailabilityZones,
		"DescribeAccountAttributes":      h.describeAccountAttributes,
		"CreateKeyPair":                  h.createKeyPair,
		"ImportKeyPair":                  h.importKeyPair,
		"DescribeKeyPairs":               h.describeKeyPairs,
		"DeleteKeyPair":                  h.deleteKeyPair,
		"CreateTags":                     h.createTags,
		"DeleteTags":                     h.deleteTags,
		"DescribeTags":                   h.describeTags,
		"CreateVolume":                   h.createVolume,
		"GetEbsEncryptionByDefault":      h.getEbsEncryptionByDefault,
		"EnableEbsEncryptionByDefault":   h.setEbsEncryptionByDefault(true),
		"DisableEbsEncryptionByDefault":  h.setEbsEncryptionByDefault(false),
		"GetEbsDefaultKmsKeyId":          h.getEbsDefaultKmsKeyID,
		"ModifyEbsDefaultKmsKeyId":       h.modifyEbsDefaultKmsKeyID,
		"ResetEbsDefaultKmsKeyId":        h.resetEbsDefaultKmsKeyID,
		"DescribeVolumes":                h.describeVolumes,
		"DeleteVolume":                   h.deleteVolume,
		"ModifyVolume":                   h.modifyVolume,
		"CreateSnapshot":                 h.createSnapshot,
		"DescribeSnapshots":              h.describeSnapshots,
		"ModifySnapshotTier":             h.modifySnapshotTier,
		"RestoreSnapshotTier":            h.restoreSnapshotTier,
		"DescribeSnapshotTierStatus":     h.describeSnapshotTierStatus,
		"DeleteSnapshot":                 h.deleteSnapshot,
		"CopySnapshot":                   h.copySnapshot,
		"DescribeSnapshotAttribute":      h.describeSnapshotAttribute,
		"ModifySnapshotAttribute":        h.modifySnapshotAttribute,
		"ResetSnapshotAttribute":         h.resetSnapshotAttribute,
		"RegisterImage":                  h.registerImage,
		"DescribeImages":                 h.describeImages,
		"DeregisterImage":                h.deregisterImage,
		"DescribeImageAttribute":         h.describeImageAttribute,
		"ModifyImageAttribute":           h.modifyImageAttribute,
		"ResetImageAttribute":            h.resetImageAttribute,
		"EnableImageDeprecation":         h.enableImageDeprecation,
		"DisableImageDeprecation": h.imageAction(func(c *call, id string) error {
			return h.images.DisableImageDeprecation(c.ctx, c.p, id)
		}),
		"EnableImageDeregistrationProtection":  h.enableImageDeregistrationProtection,
		"DisableImageDeregistrationProtection": h.disableImageDeregistrationProtection,
		"DisableImage":                         h.imageAction(func(c *call, id string) error { return h.images.DisableImage(c.ctx, c.p, id) }),
		"EnableImage":                          h.imageAction(func(c *call, id string) error { return h.images.EnableImage(c.ctx, c.p, id) }),
		"CancelImageLaunchPermission": h.imageAction(func(c *call, id string) error {
			return h.images.CancelImageLaunchPermission(c.ctx, c.p, id)
		}),
		"EnableImageBlockPublicAccess":                h.enableImageBlockPublicAccess,
		"DisableImageBlockPublicAccess":               h.disableImageBlockPublicAccess,
		"GetImageBlockPublicAccessState":              h.getImageBlockPublicAccessState,
		"EnableAllowedImagesSettings":                 h.enableAllowedImagesSettings,
		"DisableAllowedImagesSettings":                h.disableAllowedImagesSettings,
		"GetAllowedImagesSettings":                    h.getAllowedImagesSettings,
		"ReplaceImageCriteriaInAllowedImagesSettings": h.replaceImageCriteriaInAllowedImagesSettings,
		"ListImagesInRecycleBin":                      h.listImagesInRecycleBin,
		"GetImageAncestry":                            h.getImageAncestry,
		"RestoreImageFromRecycleBin": h.imageAction(func(c *call, id string) error {
			return h.images.RestoreImageFromRecycleBin(c.ctx, c.p, id)
		}),
		"AttachVolume":           h.attachVolume,
		"DetachVolume":           h.detachVolume,
		"RunInstances":           h.runInstances,
		"DescribeInstances":      h.describeInstances,
		"DescribeInstanceStatus": h.describeInstanceStatus,
		"StartInstances": h.stateChanges(func(c *call, in instanceIDsInput) ([]instances.StateChange, error) {
			return h.instances.StartInstances(c.ctx, c.p, in.InstanceIDs)
		}),
		"StopInstances": h.stateChanges(func(c *call, in instanceIDsInput) ([]instances.StateChange, error) {
			return h.instances.StopInstances(c.ctx, c.p, in.InstanceIDs, in.Force)
		}),
		"TerminateInstances": h.stateChanges(func(c *call, in instanceIDsInput) ([]instances.StateChange, error) {
			return h.instances.TerminateInstances(c.ctx, c.p, in.InstanceIDs)
		}),
		"RebootInstances":                      h.rebootInstances,
		"DescribeInstanceAttribute":            h.describeInstanceAttribute,
		"ModifyInstanceAttribute":              h.modifyInstanceAttribute,
		"ModifyInstanceMetadataOptions":        h.modifyInstanceMetadataOptions,
		"MonitorInstances":                     h.monitorInstances(true),
		"UnmonitorInstances":                   h.monitorInstances(false),
		"GetConsoleOutput":                     h.getConsoleOutput,
		"GetInstanceUefiData":                  h.getInstanceUefiData,
		"DescribeInstanceCreditSpecifications": h.describeInstanceCreditSpecifications,
		"DescribeInstanceTypes":                h.describeInstanceTypes,
		"DescribeInstanceTypeOfferings":        h.describeInstanceTypeOfferings,
		"CreateVpc":                            h.createVpc,
		"DeleteVpc":                            h.deleteVpc,
		"DescribeVpcs":                         h.describeVpcs,
		"DescribeVpcAttribute":                 h.describeVpcAttribute,
		"ModifyVpcAttribute":                   h.modifyVpcAttribute,
		"CreateSubnet":                         h.createSubnet,
		"DeleteSubnet":                         h.deleteSubnet,
		"ModifySubnetAttribute":                h.modifySubnetAttribute,
		"CreateSecurityGroup":                  h.createSecurityGroup,
		"DeleteSecurityGroup":                  h.deleteSecurityGroup,
		"AuthorizeSecurityGroupIngress":        h.authorize(false),
		"AuthorizeSecurityGroupEgress":         h.authorize(true),
		"RevokeSecurityGroupIngress":           h.revoke(false),
		"RevokeSecurityGroupEgress":            h.revoke(true),
		"DescribeSecurityGroupRules":           h.describeSecurityGroupRules,
		"ModifySecurityGroupRules":             h.modifySecurityGroupRules,
		"DescribeRouteTables":                  h.describeRouteTables,
		"DescribeNetworkAcls":                  h.describeNetworkAcls,
		"DescribeNetworkInterfaces":            h.describeNetworkInterfaces,
		"DescribeSubnets":                      h.describeSubnets,
		"DescribeSecurityGroups":               h.describeSecurityGroups,
		"CreateImage":                          h.createImage,
		"CreateSnapshots":                      h.createSnapshots,
		"CopyImage":                            h.copyImage,
		"BundleInstance":                       h.bundleInstance,
		"DescribeBundleTasks":                  h.describeBundleTasks,
		"CancelBundleTask":                     h.cancelBundleTask,
	}
	return h
}

// Serve answers an authenticated EC2 request. It returns the action, the
// error code it answered with ("" on success) and the error behind it.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	name, err := h.serve(w, r, body, p, requestID)
	if err != nil {
		return name, h.WriteError(w, requestID, err), err
	}
	return name, "", nil
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, error) {
	params, err := awsquery.Params(r, body)
	if err != nil {
		return "", err
	}
	name := params.Get("Action")
	if name == "" {
		return "", errMissingAction
	}
	act, ok := h.actions[name]
	if !ok {
		return name, &invalidAction{name}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	resp, err := act(&call{ctx: r.Context(), p: p, params: params, host: r.Host, scheme: scheme})
	if err != nil {
		return name, err
	}
	resp.setRequestID(requestID)
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer putResponseBuffer(buf)
	buf.WriteString(xml.Header)
	if err := encodeResponse(buf, name+"Response", resp); err != nil {
		return name, fmt.Errorf("ec2: encode %s response: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return name, nil
}

// responseBuffers keeps the buffers responses are encoded into, so that a
// large answer (100 images are ~150 KB of XML) does not grow a new buffer
// from nothing every time.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putResponseBuffer returns buf to the pool unless it grew past 1 MiB, so
// that one huge answer does not stay in memory.
func putResponseBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	responseBuffers.Put(buf)
}

// response is embedded first in every response struct: EC2 responses
// start with the request id. Serve names the root element after the action.
type response struct {
	RequestID string `xml:"requestId"`
}

func (r *response) setRequestID(id string) { r.RequestID = id }

type responder interface{ setRequestID(id string) }

// items is a list encoded as <item> children of its field's element. The
// element is written even when the list is empty, as AWS does, so that
// clients always find the list.
type items[T any] []T

// MarshalXML writes the list as <item> elements, for encoding/xml, which
// the tests hold the response encoder (xmlenc.go) to.
func (l items[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	item := xml.StartElement{Name: xml.Name{Local: "item"}}
	for _, v := range l {
		if err := e.EncodeElement(v, item); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// tagItem is a tag in a tagSet.
type tagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// tagSet is a resource's tags as its tagSet element. Whether an untagged
// resource's element is written follows EC2, per response: EC2 omits it
// for instances (DescribeInstances, RunInstances), volumes, images and
// the Create/ImportKeyPair, CreateSecurityGroup and CopySnapshot
// responses (boto3 then shows no "Tags" key; their fields are
// `tagSet,omitempty`), and writes it empty for key pairs in
// DescribeKeyPairs, snapshots, security groups and their rules, VPCs,
// subnets, route tables, network ACLs and network interfaces ("Tags": []
// in the aws CLI's output of each).
func tagSet(tags []openami.Tag) items[tagItem] {
	out := make(items[tagItem], len(tags))
	for i, t := range tags {
		out[i] = tagItem{t.Key, t.Value}
	}
	return out
}

// tagParam is a tag in a request (Tag.N.Key, Tag.N.Value).
type tagParam struct {
	Key   string `query:"Key"`
	Value string `query:"Value"`
}

// tagSpecParam is a TagSpecification.N.
type tagSpecParam struct {
	ResourceType string     `query:"ResourceType"`
	Tags         []tagParam `query:"Tag"`
}

func tagsOf(in []tagParam) []openami.Tag {
	out := make([]openami.Tag, len(in))
	for i, t := range in {
		out[i] = openami.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func tagSpecs(in []tagSpecParam) []tagset.Spec {
	out := make([]tagset.Spec, len(in))
	for i, s := range in {
		out[i] = tagset.Spec{ResourceType: openami.ResourceType(s.ResourceType), Tags: tagsOf(s.Tags)}
	}
	return out
}

// timestamp formats a time as EC2 does: ISO 8601 in UTC with milliseconds.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// errInvalidValue is the error for a parameter value the action does not
// take.
func errInvalidValue(param, value string) error {
	return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter %s is invalid.", value, param)
}
