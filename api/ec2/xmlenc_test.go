package ec2

import (
	"bytes"
	"encoding/xml"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// responseTypes are every response the EC2 handler encodes.
// TestEncoderCoversResponses keeps the list complete.
var responseTypes = []any{
	importSnapshotResponse{}, importImageResponse{}, describeImportSnapshotTasksResponse{}, describeImportImageTasksResponse{}, cancelImportTaskResponse{},
	launchTemplateResponse{}, createLaunchTemplateVersionResponse{}, deleteLaunchTemplateVersionsResponse{},
	exportImageResponse{}, describeExportImageTasksResponse{}, createStoreImageTaskResponse{}, describeStoreImageTasksResponse{}, createRestoreImageTaskResponse{},
	describeLaunchTemplatesResponse{}, describeLaunchTemplateVersionsResponse{}, getLaunchTemplateDataResponse{},
	allowedStateResponse{}, attachmentResponse{}, blockPublicAccessResponse{}, copySnapshotResponse{},
	createKeyPairResponse{}, createSnapshotResponse{}, createSnapshotsResponse{}, createVolumeResponse{},
	deleteKeyPairResponse{}, ebsByDefaultResponse{}, ebsDefaultKeyResponse{}, deregisterImageResponse{}, describeAccountAttributesResponse{},
	describeAvailabilityZonesResponse{}, describeCreditSpecsResponse{}, describeImageAttributeResponse{},
	describeImagesResponse{}, describeInstanceAttributeResponse{}, describeInstanceStatusResponse{},
	describeInstanceTypesResponse{}, describeInstanceTypeOfferingsResponse{}, describeInstancesResponse{}, describeKeyPairsResponse{},
	bundleTaskResponse{}, describeBundleTasksResponse{},
	describeRegionsResponse{}, describeSecurityGroupsResponse{}, describeSnapshotAttributeResponse{},
	describeSnapshotsResponse{}, describeSubnetsResponse{}, describeTagsResponse{}, describeVolumesResponse{},
	describeVpcsResponse{}, createSecurityGroupResponse{}, deleteSecurityGroupResponse{}, authorizeResponse{}, revokeResponse{},
	describeSecurityGroupRulesResponse{}, createVpcResponse{}, describeVpcAttributeResponse{}, createSubnetResponse{}, describeRouteTablesResponse{}, describeNetworkAclsResponse{}, describeNetworkInterfacesResponse{},
	getAllowedImagesSettingsResponse{}, getConsoleOutputResponse{}, modifyInstanceMetadataOptionsResponse{}, monitorInstancesResponse{}, modifySnapshotTierResponse{}, restoreSnapshotTierResponse{}, describeSnapshotTierStatusResponse{},
	getImageAncestryResponse{}, getInstanceUefiDataResponse{}, imageIDResponse{}, importKeyPairResponse{},
	listImagesInRecycleBinResponse{}, modifyVolumeResponse{}, protectionResponse{}, returnResponse{},
	runInstancesResponse{}, stateChangeResponse{},
}

// TestEncoderCoversResponses: every type named *Response in the package
// (but the error response, which encoding/xml writes) is in responseTypes.
func TestEncoderCoversResponses(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range responseTypes {
		listed = append(listed, reflect.TypeOf(r).Name())
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if ts, ok := n.(*ast.TypeSpec); ok && strings.HasSuffix(ts.Name.Name, "Response") && ts.Name.Name != "errorResponse" {
					if !slices.Contains(listed, ts.Name.Name) {
						t.Errorf("%s is not in responseTypes", ts.Name.Name)
					}
				}
				return true
			})
		}
	}
}

// fill sets v to random values: strings with characters XML escapes,
// nil and non-nil pointers, short lists.
func fill(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		pieces := []string{"a", "b", " ", "Z", "0", "9", "<", ">", "&", "'", "\"", "\n", "\t", "\r", "-", "é", "/", "\x00", "\xff", "\ufffe", "😀", "\u2028"}
		n := rng.IntN(8)
		var s strings.Builder
		for range n {
			s.WriteString(pieces[rng.IntN(len(pieces))])
		}
		v.SetString(s.String())
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(2000) - 1000)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(rng.IntN(5)) * 0.7)
	case reflect.Pointer:
		if depth > 6 || rng.IntN(3) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(rng, v.Elem(), depth+1)
	case reflect.Slice:
		if depth > 6 {
			return
		}
		n := rng.IntN(4)
		if n == 0 && rng.IntN(2) == 0 {
			return // nil
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(rng, v.Index(i), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(rng, v.Field(i), depth+1)
			}
		}
	}
}

// TestEncoderMatchesEncodingXML encodes random values of every response
// type with both encoders and wants the same bytes.
func TestEncoderMatchesEncodingXML(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, r := range responseTypes {
		typ := reflect.TypeOf(r)
		for k := range 200 {
			v := reflect.New(typ)
			if k > 0 {
				fill(rng, v.Elem(), 0)
			}
			var want bytes.Buffer
			root := xml.StartElement{Name: xml.Name{Local: "XResponse"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
			if err := xml.NewEncoder(&want).EncodeElement(v.Interface(), root); err != nil {
				t.Fatalf("%s: encoding/xml: %v", typ.Name(), err)
			}
			var got bytes.Buffer
			if err := encodeResponse(&got, "XResponse", v.Interface()); err != nil {
				t.Fatalf("%s: %v", typ.Name(), err)
			}
			if got.String() != want.String() {
				t.Fatalf("%s, value %d:\n got %s\nwant %s", typ.Name(), k, got.String(), want.String())
			}
		}
	}
}

func BenchmarkEncodeImages(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	resp := &describeImagesResponse{}
	for range 100 {
		var it imageItem
		fill(rng, reflect.ValueOf(&it).Elem(), 0)
		resp.Images = append(resp.Images, it)
	}
	root := xml.StartElement{Name: xml.Name{Local: "DescribeImagesResponse"}}
	b.Run("encoding-xml", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			xml.NewEncoder(&buf).EncodeElement(resp, root)
		}
	})
	b.Run("plan", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			encodeResponse(&buf, "DescribeImagesResponse", resp)
		}
	})
}
