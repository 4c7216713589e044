package rbin

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/openami/openami/rules/param"
)

// TestParamSentences: the rules refuse an input in their own terms
// (rules/param); the Recycle Bin's sentence is made here.
func TestParamSentences(t *testing.T) {
	rec := httptest.NewRecorder()
	typ := (&Handler{}).WriteError(rec, "r", param.OneOf("ResourceType", "EC2_VPC", "EC2_IMAGE", "EBS_SNAPSHOT", "EBS_VOLUME"))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := "Value (EC2_VPC) for parameter ResourceType is invalid. Valid values: EC2_IMAGE, EBS_SNAPSHOT, EBS_VOLUME."
	if typ != "ValidationException" || rec.Code != 400 || body["Message"] != want {
		t.Errorf("WriteError = %s %d %q, want ValidationException 400 %q", typ, rec.Code, body["Message"], want)
	}
}
