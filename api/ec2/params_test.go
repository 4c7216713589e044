package ec2

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// TestParamSentences: the rules report an input's errors in their own
// terms (rules/param); EC2's sentence, with EC2's parameter names, is made
// here, word for word as EC2 (and openami before the rules stopped
// writing it) says it.
func TestParamSentences(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
		msg  string
	}{
		{param.Invalid("KeyType", "dsa", "Valid values are: rsa, ed25519."), "InvalidParameterValue",
			"Value (dsa) for parameter keyType is invalid. Valid values are: rsa, ed25519."},
		{param.Invalid("KeyFormat", "der", "Valid values are: pem, ppk."), "InvalidParameterValue",
			"Value (der) for parameter keyFormat is invalid. Valid values are: pem, ppk."},
		{param.Missing("KeyName"), "MissingParameter", "The request must contain the parameter KeyName"},
		{param.TooLong("KeyName", strings.Repeat("k", 256), "Length exceeds maximum of 255 ASCII characters."), "InvalidParameterValue",
			"Value for parameter KeyName is invalid. Length exceeds maximum of 255 ASCII characters."},
		{param.Invalid("KeyName", "ké", "Character sets beyond ASCII are not supported."), "InvalidParameterValue",
			"Value (ké) for parameter KeyName is invalid. Character sets beyond ASCII are not supported."},
		{param.MissingEither("KeyName", "KeyPairID"), "MissingParameter", "The request must contain the parameter KeyName or KeyPairId"},
		{param.Invalid("AttributeName", "nope", "Unknown attribute."), "InvalidParameterValue",
			"Value (nope) for parameter attributeName is invalid. Unknown attribute."},
		{param.Invalid("Attribute", "kernel", "Only launchPermission can be reset."), "InvalidParameterValue",
			"Value (kernel) for parameter attribute is invalid. Only launchPermission can be reset."},
		{param.OneOf("Attribute", "x", "createVolumePermission", "productCodes"), "InvalidParameterValue",
			"Value (x) for parameter attribute is invalid. Valid values: createVolumePermission, productCodes."},
		{param.Invalid("Group", "some", "Only 'all' is supported."), "InvalidParameterValue",
			"Value (some) for parameter group is invalid. Only 'all' is supported."},
		{param.Invalid("AccountID", "12", "Expecting a 12-digit account id."), "InvalidParameterValue",
			"Value (12) for parameter userId is invalid. Expecting a 12-digit account id."},
		{param.Missing("SourceRegion"), "MissingParameter", "The request must contain the parameter SourceRegion"},
		{param.Requires("KmsKeyID", "Encrypted"), "InvalidParameterDependency",
			"The parameter KmsKeyId requires the parameter Encrypted to be set."},
		{param.OneOf("VolumeType", "gp9", "standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"), "InvalidParameterValue",
			"Value (gp9) for parameter volumeType is invalid. Valid values: standard, io1, io2, gp2, sc1, st1, gp3."},
		{param.NotWith("Iops", "is not supported for %s volumes.", "gp2"), "InvalidParameterCombination",
			"The parameter iops is not supported for gp2 volumes."},
		{param.NotWith("Throughput", "is not supported for %s volumes.", "io1"), "InvalidParameterCombination",
			"The parameter throughput is not supported for io1 volumes."},
		{param.MissingFor("Iops", "must be specified for %s volumes.", "io1"), "MissingParameter",
			"The parameter iops must be specified for io1 volumes."},
		{param.Invalid("Iops", "50", "for %s volumes: expecting %d to %d.", "io1", 100, 64000), "InvalidParameterValue",
			"Value (50) for parameter iops is invalid for io1 volumes: expecting 100 to 64000."},
		{param.Invalid("Throughput", "2000", "expecting 125 to 1000."), "InvalidParameterValue",
			"Value (2000) for parameter throughput is invalid: expecting 125 to 1000."},
		{param.Missing("AvailabilityZone"), "MissingParameter", "The request must contain the parameter AvailabilityZone"},
		{param.MissingEither("Size", "SnapshotID"), "MissingParameter", "The request must contain the parameter size or snapshotId"},
		{param.Missing("ImageID"), "MissingParameter", "The request must contain the parameter ImageId"},
		{param.Missing("InstanceIDs"), "MissingParameter", "The request must contain the parameter InstanceId"},
		{param.Missing("ResourceIDs"), "MissingParameter", "The request must contain the parameter ResourceId"},
		{param.Missing("Tags"), "MissingParameter", "The request must contain the parameter Tag"},
		{param.Invalid("MaxResults", "2", "Expecting a value between 5 and 1000."), "InvalidParameterValue",
			"Value (2) for parameter maxResults is invalid. Expecting a value between 5 and 1000."},
		{param.OneOf("InstanceInitiatedShutdownBehavior", "halt", "stop", "terminate"), "InvalidParameterValue",
			"Value (halt) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate."},
		{param.OneOf("CPUCredits", "x", "standard", "unlimited"), "InvalidParameterValue",
			"Value (x) for parameter CpuCredits is invalid. Valid values: standard, unlimited."},
		{param.TokenReused(openami.ResourceVolume, "tok-1"), "IdempotentParameterMismatch",
			"The client token tok-1 was used with different parameters."},
	} {
		w := toWire(tc.err)
		if w.Code != tc.code || w.Message != tc.msg {
			t.Errorf("toWire(%v) = %s %q,\n want %s %q", tc.err, w.Code, w.Message, tc.code, tc.msg)
		}
	}
}

// TestParamSentenceOfDescribe: the Describe skeleton's page-size refusal
// reads as EC2's.
func TestParamSentenceOfDescribe(t *testing.T) {
	_, _, err := describe.List(nil, "", describe.Page{MaxResults: 3}, describe.Bounds{Min: 5, Max: 1000},
		func(string, int) ([]string, error) { return nil, nil }, func(s string) string { return s }, func(string) bool { return true })
	if w := toWire(err); w.Message != "Value (3) for parameter maxResults is invalid. Expecting a value between 5 and 1000." {
		t.Errorf("describe.List(MaxResults 3) = %s %q", w.Code, w.Message)
	}
}

// TestEveryParamNameRenders: each field the table knows comes out under
// its EC2 name, in each shape of sentence.
func TestEveryParamNameRenders(t *testing.T) {
	for field, name := range paramNames {
		if w := toWire(param.Missing(field)); w.Message != "The request must contain the parameter "+name {
			t.Errorf("Missing(%s) = %q", field, w.Message)
		}
		if w := toWire(param.Invalid(field, "v", "D.")); !strings.HasPrefix(w.Message, "Value (v) for parameter "+name+" is invalid") || !strings.HasSuffix(w.Message, "D.") {
			t.Errorf("Invalid(%s) = %q", field, w.Message)
		}
		if w := toWire(param.NotWith(field, "is not supported here.")); w.Message != "The parameter "+name+" is not supported here." {
			t.Errorf("NotWith(%s) = %q", field, w.Message)
		}
	}
}

// paramFieldArgs are the helpers of rules/param and which of their
// arguments name fields.
var paramFieldArgs = map[string][]int{
	"OneOf": {0}, "Invalid": {0}, "TooLong": {0}, "Missing": {0}, "MissingFor": {0}, "Breaks": {0}, "Empty": {0},
	"NotWith": {0}, "MissingEither": {0, 1}, "Requires": {0, 1}, "Exclusive": {0, 1},
}

// keyFieldArgs are the methods of rules/ebs that take the rules' name
// for an input that gave a KMS key (which EC2 names when it quotes KMS's
// refusal of the key), and which argument it is; ebs.Target's Field is
// one too. A name passed on in a variable is not collected: the literal
// it came from is.
var keyFieldArgs = map[string]int{"CheckKeyUse": 2, "UsableKeyToDecrypt": 2, "usableEBSKey": 2}

// ebsDirectFields are the rules' names of inputs of the EBS direct API
// (api/ebs names them), which EC2 never shows.
var ebsDirectFields = map[string]bool{"KmsKeyARN": true, "ParentSnapshotId": true, "SnapshotId": true}

// iamFields are the rules' names of inputs of IAM's signing-certificate
// actions (rules/identity/certificates.go; api/iam names them), which EC2
// never shows.
var iamFields = map[string]bool{"CertificateBody": true, "CertificateId": true, "CertificateStatus": true, "UserName": true, "MaxItems": true, "Marker": true}

// rulesFields returns the field names the rules under the module's dirs
// pass to rules/param, by reading their source, and where each is used.
// A field name that is not a string literal fails the test: the tables of
// the protocols could not be checked against it.
func rulesFields(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.CompositeLit); ok && isTarget(lit.Type) {
					for _, el := range lit.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Field" {
							if s, ok := stringLit(kv.Value); ok {
								fields[s] = fset.Position(kv.Pos()).String()
							}
						}
					}
					return true
				}
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
					if i, ok := keyFieldArgs[sel.Sel.Name]; ok && len(call.Args) > i {
						if s, ok := stringLit(call.Args[i]); ok {
							fields[s] = fset.Position(call.Pos()).String()
						}
					}
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "param" {
					return true
				}
				if sel.Sel.Name == "TokenReused" {
					fields["ClientToken"] = fset.Position(call.Pos()).String()
				}
				for _, i := range paramFieldArgs[sel.Sel.Name] {
					lit, ok := call.Args[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s: param.%s names a field by a non-literal", fset.Position(call.Pos()), sel.Sel.Name)
						continue
					}
					s, _ := strconv.Unquote(lit.Value)
					fields[s] = fset.Position(call.Pos()).String()
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return fields
}

// isTarget reports whether a composite literal's type is rules/ebs's
// Target.
func isTarget(e ast.Expr) bool {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name == "Target"
	case *ast.SelectorExpr:
		x, ok := t.X.(*ast.Ident)
		return ok && x.Name == "ebs" && t.Sel.Name == "Target"
	}
	return false
}

// stringLit returns the value of a string literal.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// TestParamNamesMatchTheRules fails when the rules report a field that
// paramNames does not know (EC2's message would show the rules' name), or
// when paramNames keeps a field the rules no longer report. The fields
// are those the rules pass to rules/param and the names of the inputs
// that gave a KMS key (keyFieldArgs). rules/kms is
// KMS's (api/kms checks it): its refusals reach EC2 only in EC2's words
// (rules/ebs's ebsKeyError).
func TestParamNamesMatchTheRules(t *testing.T) {
	fields := rulesFields(t, "rules/param", "rules/describe", "rules/identity", "rules/ebs", "rules/images", "rules/templates", "rules/instances", "service")
	if len(fields) < 10 {
		t.Fatalf("found only %d fields in the rules: is the source where the test looks?", len(fields))
	}
	for f := range ebsDirectFields {
		delete(fields, f)
	}
	for f := range iamFields {
		delete(fields, f)
	}
	for f, at := range fields {
		if _, ok := paramNames[f]; !ok {
			t.Errorf("%s: the rules report field %q, which paramNames does not map to an EC2 name", at, f)
		}
	}
	for f := range paramNames {
		if _, ok := fields[f]; !ok {
			t.Errorf("paramNames maps %q, which no rule reports", f)
		}
	}
}

// TestKeyUnusableSentences: a KMS key EBS may not use (rules/ebs) is
// refused in EC2's words, quoting KMS's refusal: its own sentence, or
// KMS's sentence about a key id of the wrong form, under EC2's name for
// the input that gave it.
func TestKeyUnusableSentences(t *testing.T) {
	unusable := func(class openami.Class, field, key string, kms error) error {
		return &openami.Error{Class: class, Resource: openami.ResourceKMSKey, Reason: openami.ReasonKeyUnusable, Field: field, Value: key, Err: kms}
	}
	for _, tc := range []struct {
		err       error
		code, msg string
	}{
		{unusable(openami.InvalidParameter, "MappingKmsKeyID", "k", param.Breaks("MappingKmsKeyID", "", "must have length less than or equal to %d", 2048)),
			"InvalidParameterValue", "The specified KMS key k is not accessible: 1 validation error detected: Value at 'blockDeviceMapping.Ebs.KmsKeyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{unusable(openami.InvalidParameter, "KmsKeyID", "alias/x", openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "Alias x is not found.")),
			"InvalidParameterValue", "The specified KMS key alias/x is not accessible: Alias x is not found."},
		{unusable(openami.IncorrectState, "VolumeID", "arn:k", openami.Errorf(openami.IncorrectState, openami.ResourceKMSKey, "arn:k is disabled.")),
			"InvalidKMSKey.InvalidState", "The KMS key provided is in an incorrect state: arn:k is disabled."},
	} {
		if w := toWire(tc.err); w.Code != tc.code || w.Message != tc.msg {
			t.Errorf("toWire(%v) = %s %q,\n want %s %q", tc.err, w.Code, w.Message, tc.code, tc.msg)
		}
	}
}
