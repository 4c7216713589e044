package ec2

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/openami/openami"
	kmsapi "github.com/openami/openami/api/kms"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
	"github.com/openami/openami/rules/images"
)

// This file is the one place that turns openami errors into EC2 error codes.

// wireError is an error as EC2 reports it.
type wireError struct {
	Status  int
	Code    string
	Message string
}

var errMissingAction = errors.New("missing action")

type invalidAction struct{ name string }

func (e *invalidAction) Error() string { return "invalid action " + e.name }

// reasonCodes maps a class and sub-reason to an EC2 error code. It is
// consulted before codes: an error with a Reason listed here has that code
// whatever its resource.
var reasonCodes = map[openami.Class]map[openami.Reason]string{
	openami.Duplicate:          {openami.ReasonTokenReused: "IdempotentParameterMismatch"},
	openami.InvalidCombination: {openami.ReasonDependency: "InvalidParameterDependency"},
	openami.Malformed:          {openami.ReasonName: "InvalidAMIName.Malformed"},
	openami.InvalidParameter: {
		openami.ReasonMapping:          "InvalidBlockDeviceMapping",
		openami.ReasonLaunchPermission: "InvalidAMIAttributeItemValue",
		openami.ReasonCopySource:       "InvalidRegion",
		openami.ReasonZoneMismatch:     "InvalidVolume.ZoneMismatch",
		openami.ReasonOverlap:          "InvalidSubnet.Conflict",
		openami.ReasonNetworkMismatch:  "InvalidParameter",
		openami.ReasonManifest:         "InvalidManifest",
	},
	openami.InUse: {openami.ReasonAddress: "InvalidIPAddress.InUse"},
	openami.NotFound: {
		openami.ReasonRuleID: "InvalidSecurityGroupRuleId.NotFound",
		// An SSM parameter that does not exist (resolve:ssm:): EC2
		// checks it when a template is made and answers with the
		// generic code; SsmInvalidParameter is for a parameter of
		// another data type than aws:ec2:image.
		openami.ReasonSSMParameter: "InvalidParameterValue",
	},
	openami.Unauthorized:  {openami.ReasonDefault: "CannotDelete"},
	openami.LimitExceeded: {openami.ReasonPublicAddress: "InsufficientAddressCapacity", openami.ReasonHostCapacity: "InsufficientInstanceCapacity"},
	openami.IncorrectState: {
		openami.ReasonUnavailable: "InvalidAMIID.Unavailable",
		openami.ReasonKeyUnusable: "InvalidKMSKey.InvalidState",
	},
}

// reasonResourceCodes maps a class, sub-reason and resource type to an
// EC2 error code, for the reasons whose code depends on the resource too.
// It is consulted first.
var reasonResourceCodes = map[openami.Class]map[openami.Reason]map[openami.ResourceType]string{
	openami.InvalidParameter: {openami.ReasonRange: {
		openami.ResourceVPC:    "InvalidVpc.Range",
		openami.ResourceSubnet: "InvalidSubnet.Range",
	}},
	openami.NotFound: {
		openami.ReasonName:    {openami.ResourceLaunchTemplate: "InvalidLaunchTemplateName.NotFoundException"},
		openami.ReasonVersion: {openami.ResourceLaunchTemplate: "InvalidLaunchTemplateId.VersionNotFound"},
	},
	openami.Malformed: {openami.ReasonName: {openami.ResourceLaunchTemplate: "InvalidLaunchTemplateName.MalformedException"}},
}

// codes maps a class and resource type to an EC2 error code. A class's
// entry for resource "" is its default.
var codes = map[openami.Class]map[openami.ResourceType]string{
	openami.NotFound: {
		"":                                "InvalidParameterValue",
		openami.ResourceKeyPair:           "InvalidKeyPair.NotFound",
		openami.ResourceImage:             "InvalidAMIID.NotFound",
		openami.ResourceSnapshot:          "InvalidSnapshot.NotFound",
		openami.ResourceImportTask:        "InvalidConversionTaskId",
		openami.ResourceVolume:            "InvalidVolume.NotFound",
		openami.ResourceInstance:          "InvalidInstanceID.NotFound",
		openami.ResourceVPC:               "InvalidVpcID.NotFound",
		openami.ResourceSubnet:            "InvalidSubnetID.NotFound",
		openami.ResourceSecurityGroup:     "InvalidGroup.NotFound",
		openami.ResourceAttachment:        "InvalidAttachment.NotFound",
		openami.ResourceSecurityGroupRule: "InvalidPermission.NotFound",
		openami.ResourceRouteTable:        "InvalidRouteTableID.NotFound",
		openami.ResourceNetworkACL:        "InvalidNetworkAclID.NotFound",
		openami.ResourceNetworkInterface:  "InvalidNetworkInterfaceID.NotFound",
		openami.ResourceBundleTask:        "InvalidBundleID.NotFound",
		openami.ResourceLaunchTemplate:    "InvalidLaunchTemplateId.NotFound",
		openami.ResourceExportTask:        "InvalidExportTaskID.NotFound",
	},
	openami.Duplicate: {
		"":                                "InvalidParameterValue",
		openami.ResourceKeyPair:           "InvalidKeyPair.Duplicate",
		openami.ResourceImage:             "InvalidAMIName.Duplicate",
		openami.ResourceSecurityGroup:     "InvalidGroup.Duplicate",
		openami.ResourceSecurityGroupRule: "InvalidPermission.Duplicate",
		openami.ResourceLaunchTemplate:    "InvalidLaunchTemplateName.AlreadyExistsException",
	},
	openami.Malformed: {
		"":                             "InvalidID",
		openami.ResourceKeyPair:        "InvalidKeyPair.Format",
		openami.ResourceImage:          "InvalidAMIID.Malformed",
		openami.ResourceSnapshot:       "InvalidSnapshotID.Malformed",
		openami.ResourceVolume:         "InvalidVolumeID.Malformed",
		openami.ResourceInstance:       "InvalidInstanceID.Malformed",
		openami.ResourceLaunchTemplate: "InvalidLaunchTemplateId.Malformed",
	},
	openami.InvalidParameter: {
		"": "InvalidParameterValue",
	},
	openami.MissingParameter: {"": "MissingParameter"},
	openami.InvalidCombination: {
		"": "InvalidParameterCombination",
	},
	openami.UnknownParameter: {"": "UnknownParameter"},
	openami.InUse: {
		"":                            "InvalidParameterValue",
		openami.ResourceSnapshot:      "InvalidSnapshot.InUse",
		openami.ResourceVolume:        "VolumeInUse",
		openami.ResourceVPC:           "DependencyViolation",
		openami.ResourceSubnet:        "DependencyViolation",
		openami.ResourceSecurityGroup: "DependencyViolation",
	},
	openami.IncorrectState: {
		"":                       "IncorrectState",
		openami.ResourceInstance: "IncorrectInstanceState",
	},
	openami.Unauthorized: {
		"":                       "AuthFailure",
		openami.ResourceImage:    "OperationNotPermitted",
		openami.ResourceInstance: "OperationNotPermitted",
		openami.ResourceSnapshot: "InvalidRequest",
	},
	openami.LimitExceeded: {
		"":                                "ResourceLimitExceeded",
		openami.ResourceFilter:            "FilterLimitExceeded",
		openami.ResourceTag:               "TagLimitExceeded",
		openami.ResourceKeyPair:           "ResourceLimitExceeded",
		openami.ResourceInstance:          "InstanceLimitExceeded",
		openami.ResourceSubnet:            "InsufficientFreeAddressesInSubnet",
		openami.ResourceSecurityGroupRule: "RulesPerSecurityGroupLimitExceeded",
	},
	openami.Unsupported:  {"": "UnsupportedOperation"},
	openami.InvalidToken: {"": "InvalidPaginationToken"},
	openami.DryRun:       {"": "DryRunOperation"},
}

// transportCodes maps failures of the HTTP exchange to EC2 codes. EC2 has
// no codes of its own for the first three; these are the ones S3 (and
// AWS's other XML services) use for the same failures. RequestLimitExceeded
// is EC2's throttling code, which the SDKs retry.
var transportCodes = map[transport.Failure]string{
	transport.Incomplete: "IncompleteBody",
	transport.Timeout:    "RequestTimeout",
	transport.Canceled:   "RequestCanceled",
	transport.Busy:       "RequestLimitExceeded",
}

// statuses are the HTTP statuses of codes that do not answer 400.
var statuses = map[string]int{
	"AuthFailure":                401,
	"MissingAuthenticationToken": 401,
	"SignatureDoesNotMatch":      403,
	"UnauthorizedOperation":      403,
	"DryRunOperation":            412,
	"RequestLimitExceeded":       503,
	"InternalError":              500,
}

// authCodes maps signature failures to EC2 codes.
var authCodes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationToken",
	sigv4.Incomplete:  "IncompleteSignature",
	sigv4.Mismatch:    "SignatureDoesNotMatch",
	sigv4.Expired:     "RequestExpired",
	sigv4.Unsupported: "InvalidParameterValue",
	sigv4.UnknownKey:  "AuthFailure",
	sigv4.BadRegion:   "AuthFailure",
}

// toWire classifies err.
func toWire(err error) wireError {
	var (
		ae *sigv4.Error
		oe *openami.Error
		ia *invalidAction
	)
	var w wireError
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		w = wireError{Code: authCodes[ae.Failure], Message: ae.Message}
	case isTransport:
		w = wireError{Code: transportCodes[te.Failure], Message: te.Message}
	case errors.As(err, &ia):
		w = wireError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", ia.name)}
	case errors.Is(err, errMissingAction):
		w = wireError{Code: "MissingAction", Message: "The request must contain the parameter Action"}
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		code, ok := reasonResourceCodes[oe.Class][oe.Reason][oe.Resource]
		if !ok {
			code, ok = reasonCodes[oe.Class][oe.Reason]
		}
		if !ok {
			byRes := codes[oe.Class]
			if code, ok = byRes[oe.Resource]; !ok {
				code = byRes[""]
			}
		}
		w = wireError{Code: code, Message: message(oe)}
	}
	if w.Code == "" {
		w = wireError{Code: "InternalError", Message: "An internal error has occurred"}
	}
	w.Status = statuses[w.Code]
	if w.Status == 0 {
		w.Status = http.StatusBadRequest
	}
	return w
}

// idSetNames are the names EC2 gives the id lists of its Describe
// actions, for the messages that name them.
var idSetNames = map[openami.ResourceType]string{
	openami.ResourceImage: "imageIdsSet", openami.ResourceSnapshot: "snapshotSet",
	openami.ResourceVolume: "volumeSet", openami.ResourceInstance: "instancesSet",
}

// paramNames maps the names the rules give their inputs (openami.Error's
// Field and Other) to the names EC2's messages give the request
// parameters, spelled as EC2 spells them there (its messages are not
// consistent about case). One table serves every action: where two
// actions' parameters for one input differ, the rules' names differ.
var paramNames = map[string]string{
	"DiskImageFormat":                   "DiskImageFormat",
	"ImageBucket":                       "Bucket",
	"ObjectKey":                         "ObjectKey",
	"ObjectTags":                        "S3ObjectTags",
	"S3Bucket":                          "S3ExportLocation.S3Bucket",
	"LaunchTemplateData":                "LaunchTemplateData",
	"MaxVersion":                        "MaxVersion",
	"MinVersion":                        "MinVersion",
	"TemplateID":                        "LaunchTemplateId",
	"TemplateName":                      "LaunchTemplateName",
	"VersionDescription":                "VersionDescription",
	"Versions":                          "LaunchTemplateVersion",
	"AccountID":                         "userId",
	"AllowedImagesSettingsState":        "allowedImagesSettingsState",
	"Architecture":                      "architecture",
	"Attribute":                         "attribute",
	"Bucket":                            "Storage.S3.Bucket",
	"BundleID":                          "BundleId",
	"AttributeName":                     "attributeName",
	"AvailabilityZone":                  "AvailabilityZone",
	"BootMode":                          "bootMode",
	"ClientToken":                       "ClientToken",
	"CPUCredits":                        "CpuCredits",
	"Encrypted":                         "Encrypted",
	"Group":                             "group",
	"HttpEndpoint":                      "HttpEndpoint",
	"HttpTokens":                        "HttpTokens",
	"ImageBlockPublicAccessState":       "imageBlockPublicAccessState",
	"ImageID":                           "ImageId",
	"ImageType":                         "imageType",
	"ImdsSupport":                       "imdsSupport",
	"InstanceID":                        "InstanceId",
	"InstanceIDs":                       "InstanceId",
	"InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior",
	"InstanceMetadataTags":              "InstanceMetadataTags",
	"Iops":                              "iops",
	"KeyFormat":                         "keyFormat",
	"KeyName":                           "KeyName",
	"KeyPairID":                         "KeyPairId",
	"KeyType":                           "keyType",
	"KmsKeyID":                          "KmsKeyId",
	"MappingKmsKeyID":                   "BlockDeviceMapping.Ebs.KmsKeyId",
	"MaxResults":                        "maxResults",
	"Prefix":                            "Storage.S3.Prefix",
	"LocationType":                      "locationType",
	"ResourceIDs":                       "ResourceId",
	"ResourceType":                      "ResourceType",
	"Size":                              "size",
	"SnapshotID":                        "snapshotId",
	"SourceImageID":                     "SourceImageId",
	"SourceRegion":                      "SourceRegion",
	"SourceSnapshotID":                  "SourceSnapshotId",
	"StorageTier":                       "StorageTier",
	"TemporaryDays":                     "TemporaryRestoreDays",
	"Permanent":                         "PermanentRestore",
	"SriovNetSupport":                   "sriovNetSupport",
	"Tags":                              "Tag",
	"Throughput":                        "throughput",
	"TpmSupport":                        "tpmSupport",
	"VirtualizationType":                "virtualizationType",
	"VolumeID":                          "VolumeId",
	"VolumeType":                        "volumeType",
}

// invalidJoins are the words between "Value (v) for parameter p is
// invalid" and the detail, for the parameters where EC2 goes on with the
// sentence rather than starting a new one.
var invalidJoins = map[string]string{"Iops": " ", "Throughput": ": "}

// paramName returns EC2's name for the rules' input field: the table's,
// or the rules' own for one the table lacks (a test keeps the table
// complete).
func paramName(field string) string {
	if n, ok := paramNames[field]; ok {
		return n
	}
	return field
}

// message returns the sentence EC2 answers an error with: the rules'
// own, or, where the sentence names request parameters, EC2's, made here
// from the error's class, reason, resource, field, value and detail so
// that the rules need not know the wire's parameter names.
func message(oe *openami.Error) string {
	if oe.Class == openami.InvalidCombination && oe.Reason == openami.ReasonIDsWithPaging {
		if set, ok := idSetNames[oe.Resource]; ok {
			return "The parameter " + set + " cannot be used with the parameter maxResults"
		}
	}
	if oe.Reason == openami.ReasonKeyUnusable && oe.Message == "" {
		return keyUnusable(oe)
	}
	var prot *images.Protected
	if oe.Message == "" && errors.As(oe.Err, &prot) {
		return "Image " + prot.ImageID + " has deregistration protection enabled (" + protectionWords(prot.Protection) + ")."
	}
	if oe.Message != "" || oe.Field == "" {
		return oe.Message
	}
	name := paramName(oe.Field)
	switch {
	case oe.Reason == openami.ReasonTokenReused:
		return "The client token " + oe.Value + " was used with different parameters."
	case oe.Reason == openami.ReasonDependency:
		return "The parameter " + name + " requires the parameter " + paramName(oe.Other) + " to be set."
	case oe.Reason == openami.ReasonExclusive:
		return "The parameter " + name + " cannot be used with the parameter " + paramName(oe.Other)
	case oe.Reason == openami.ReasonTooLong:
		// EC2 does not repeat a value that is too long.
		return "Value for parameter " + name + " is invalid. " + oe.Detail
	case oe.Class == openami.InvalidParameter:
		join, ok := invalidJoins[oe.Field]
		if !ok {
			join = ". "
		}
		return "Value (" + oe.Value + ") for parameter " + name + " is invalid" + join + oe.Detail
	case oe.Class == openami.MissingParameter && oe.Detail == "":
		if oe.Other != "" {
			return "The request must contain the parameter " + name + " or " + paramName(oe.Other)
		}
		return "The request must contain the parameter " + name
	}
	return "The parameter " + name + " " + oe.Detail
}

// keyUnusable returns EC2's sentence for a KMS key EBS may not use
// (rules/ebs), quoting KMS's refusal with EC2's name for the input that
// gave it.
func keyUnusable(oe *openami.Error) string { return kmsapi.KeyUnusableSentence(oe, paramName) }

type errorResponse struct {
	XMLName   xml.Name    `xml:"Response"`
	Errors    []errorItem `xml:"Errors>Error"`
	RequestID string      `xml:"RequestID"`
}

type errorItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// WriteError answers with err in the EC2 error envelope and returns the
// code. Internal errors are reported without detail; the caller logs them.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	we := toWire(err)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(errorResponse{
		Errors:    []errorItem{{Code: we.Code, Message: we.Message}},
		RequestID: requestID,
	})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(we.Status)
	w.Write(buf.Bytes())
	return we.Code
}
