package autoscaling

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
)

// The error table of Auto Scaling: from openami's classes (and the
// resource and reason they concern) to Auto Scaling's codes. Auto
// Scaling answers nearly every refusal of a request's content as
// ValidationError with a sentence, which the rules write.

// wireError is an error as Auto Scaling answers it.
type wireError struct {
	Status  int
	Code    string
	Message string
}

// toWire returns Auto Scaling's answer to err.
func toWire(err error) wireError {
	if status, code, msg, ok := awsquery.ProtocolError(err); ok {
		return wireError{status, code, msg}
	}
	var oe *openami.Error
	if !errors.As(err, &oe) || oe.Class == openami.Internal {
		return wireError{http.StatusInternalServerError, "InternalFailure", "An internal error occurred."}
	}
	msg := message(oe)
	bad := func(code string) wireError { return wireError{http.StatusBadRequest, code, msg} }
	switch oe.Class {
	case openami.Duplicate:
		if oe.Resource == openami.ResourceInstanceRefresh {
			return bad("InstanceRefreshInProgress")
		}
		return bad("AlreadyExists")
	case openami.NotFound:
		if oe.Resource == openami.ResourceInstanceRefresh {
			return bad("ActiveInstanceRefreshNotFound")
		}
	case openami.InUse:
		return bad("ResourceInUse")
	case openami.IncorrectState:
		if oe.Reason != openami.ReasonUnavailable {
			return bad("ScalingActivityInProgress")
		}
	case openami.LimitExceeded:
		return bad("LimitExceeded")
	case openami.InvalidToken:
		return bad("InvalidNextToken")
	}
	return bad("ValidationError")
}

// memberNames are Auto Scaling's names, in its validation messages, of
// the rules' inputs (rules/autoscaling's param errors).
var memberNames = map[string]string{
	"Name":                   "autoScalingGroupName",
	"MinSize":                "minSize",
	"MaxSize":                "maxSize",
	"DesiredCapacity":        "desiredCapacity",
	"HealthCheckGracePeriod": "healthCheckGracePeriod",
	"ResourceID":             "tags.member.resourceId",
	"Template":               "launchTemplate",
	"TemplateID":             "launchTemplateId",
	"TemplateName":           "launchTemplateName",
	"MaxRecords":             "maxRecords",
	"TagKey":                 "tags.member.key",
	"TagValue":               "tags.member.value",
	"MinHealthy":             "preferences.minHealthyPercentage",
	"MaxHealthy":             "preferences.maxHealthyPercentage",
	"InstanceWarmup":         "preferences.instanceWarmup",
}

func memberName(field string) string {
	if n, ok := memberNames[field]; ok {
		return n
	}
	return field
}

// message words an error in Auto Scaling's terms: the rules' sentence
// when they wrote one, else one made of the input the error names.
func message(oe *openami.Error) string {
	if oe.Message != "" {
		return oe.Message
	}
	switch {
	case oe.Field == "Template" && oe.Err != nil:
		// EC2 refused the template; Auto Scaling quotes it.
		var cause *openami.Error
		if errors.As(oe.Err, &cause) && cause.Message != "" {
			return "You must use a valid fully-formed launch template. " + cause.Message
		}
		return "You must use a valid fully-formed launch template."
	case oe.Field == "Subnets" && oe.Err != nil:
		// EC2 refused a subnet of VPCZoneIdentifier; Auto Scaling quotes it.
		var cause *openami.Error
		if errors.As(oe.Err, &cause) && cause.Message != "" {
			return cause.Message
		}
		return fmt.Sprintf("The subnet ID '%s' does not exist", oe.Value)
	case oe.Field == "ShouldDecrement":
		return fmt.Sprintf("Currently, desiredSize equals minSize (%s). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", oe.Detail)
	case oe.Field == "Template" && oe.Class == openami.MissingParameter:
		return "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."
	case oe.Other != "" && (oe.Class == openami.MissingParameter || oe.Reason == openami.ReasonExclusive):
		return fmt.Sprintf("Valid requests must contain either %s or %s parameter.", memberName(oe.Field), memberName(oe.Other))
	case oe.Class == openami.MissingParameter && oe.Detail == "":
		return validation("null", oe.Field, "must not be null")
	case oe.Reason == openami.ReasonConstraint || oe.Class == openami.MissingParameter:
		v := "null"
		if oe.Value != "" {
			v = "'" + oe.Value + "'"
		}
		return validation(v, oe.Field, oe.Detail)
	}
	return strings.TrimSpace(fmt.Sprintf("Invalid value '%s' for %s. %s", oe.Value, memberName(oe.Field), oe.Detail))
}

// validation words a constraint an input broke as Auto Scaling does: "1
// validation error detected: Value '0' at 'maxRecords' failed to satisfy
// constraint: Member must have value between 1 and 100".
func validation(value, field, constraint string) string {
	return fmt.Sprintf("1 validation error detected: Value %s at '%s' failed to satisfy constraint: Member %s", value, memberName(field), constraint)
}

// WriteError answers with err in Auto Scaling's error envelope and
// returns the code.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	we := toWire(err)
	awsquery.WriteError(w, namespace, requestID, we.Status, we.Code, we.Message)
	return we.Code
}
