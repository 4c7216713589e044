package ec2

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
)

// TestExportImageWire: ExportImage decodes S3ExportLocation and the tag
// specifications as the SDKs send them, and a task encodes in EC2's
// shape (progress only while active, the format upper case).
func TestExportImageWire(t *testing.T) {
	v, err := url.ParseQuery("ImageId=ami-1&DiskImageFormat=VMDK&S3ExportLocation.S3Bucket=bkt&S3ExportLocation.S3Prefix=out/" +
		"&RoleName=vmimport&TagSpecification.1.ResourceType=export-image-task&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v")
	if err != nil {
		t.Fatal(err)
	}
	var in exportImageInput
	if err := awsquery.Decode(v, &in); err != nil {
		t.Fatal(err)
	}
	if in.S3ExportLocation.S3Bucket != "bkt" || in.S3ExportLocation.S3Prefix != "out/" || in.RoleName != "vmimport" ||
		len(in.TagSpecifications) != 1 || in.TagSpecifications[0].ResourceType != "export-image-task" {
		t.Fatalf("decoded %+v", in)
	}
	task := openami.ExportTask{ID: "export-ami-1", ImageID: "ami-1", Format: openami.DiskFormatVMDK, Bucket: "bkt", Prefix: "out/",
		State: openami.ExportActive, StatusMessage: "converting", Progress: 30, Tags: []openami.Tag{{Key: "k", Value: "v"}}}
	var b bytes.Buffer
	if err := encodeResponse(&b, "DescribeExportImageTasksResponse", &describeExportImageTasksResponse{Tasks: items[exportTaskFields]{exportTaskOf(task)}}); err != nil {
		t.Fatal(err)
	}
	body := b.String()
	for _, want := range []string{
		"<exportImageTaskSet><item><diskImageFormat>VMDK</diskImageFormat><exportImageTaskId>export-ami-1</exportImageTaskId>",
		"<progress>30</progress><s3ExportLocation><s3Bucket>bkt</s3Bucket><s3Prefix>out/</s3Prefix></s3ExportLocation>",
		"<status>active</status><statusMessage>converting</statusMessage><tagSet><item><key>k</key><value>v</value></item></tagSet>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	task.State, task.Progress = openami.ExportCompleted, 100
	if f := exportTaskOf(task); f.Progress != "" {
		t.Errorf("completed task's progress %q", f.Progress)
	}
}
