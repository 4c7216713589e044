package ec2

import (
	"net/url"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
)

// TestRunInstancesUnsupported: RunInstances refuses the options that ask
// for what openami does not do, and takes those sent empty, as EC2 does
// (Packer's amazon-ebs sends IamInstanceProfile.Name= on every launch).
func TestRunInstancesUnsupported(t *testing.T) {
	const base = "ImageId=ami-1&MinCount=1&MaxCount=1"
	for _, c := range []struct {
		form    string
		refused bool
	}{
		{"", false},
		{"&IamInstanceProfile.Name=", false},
		{"&IamInstanceProfile.Name=&IamInstanceProfile.Arn=", false},
		{"&IamInstanceProfile.Name=web", true},
		{"&IamInstanceProfile.Arn=arn:aws:iam::123456789012:instance-profile/web", true},
		{"&HibernationOptions.Configured=false", false},
		{"&HibernationOptions.Configured=true", true},
		{"&Monitoring.Enabled=false", false},
		{"&Monitoring.Enabled=true", false}, // recorded: the monitoring state
		{"&Placement.Tenancy=default", false},
		{"&Placement.Tenancy=dedicated", true},
		{"&LaunchTemplate.LaunchTemplateId=lt-1", false},
	} {
		t.Run(c.form, func(t *testing.T) {
			v, err := url.ParseQuery(base + c.form)
			if err != nil {
				t.Fatal(err)
			}
			var in runInstancesInput
			if err := awsquery.Decode(v, &in); err != nil {
				t.Fatal(err)
			}
			err = in.unsupported()
			if c.refused && openami.ClassOf(err) != openami.Unsupported || !c.refused && err != nil {
				t.Fatalf("error %v, refused: %v", err, c.refused)
			}
		})
	}
}
