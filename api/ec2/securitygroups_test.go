package ec2

import (
	"net/url"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
)

// TestPermissionsOf: the two wire forms of a security group's permissions
// decode to the same rules' terms, and the forms do not mix.
func TestPermissionsOf(t *testing.T) {
	for _, c := range []struct {
		name  string
		form  string
		class openami.Class // of the error; Internal for none
		check func(t *testing.T, in *permissionsInput)
	}{
		{"flat", "GroupId=sg-1&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=0.0.0.0/0", openami.Internal, func(t *testing.T, in *permissionsInput) {
			p, _ := in.permissions()
			if len(p) != 1 || p[0].Protocol != "tcp" || *p[0].FromPort != 22 || *p[0].ToPort != 22 || p[0].IPRanges[0].CIDR != "0.0.0.0/0" {
				t.Errorf("%+v", p)
			}
		}},
		{"flat source group alone is all traffic", "GroupName=web&SourceSecurityGroupName=lb", openami.Internal, func(t *testing.T, in *permissionsInput) {
			p, _ := in.permissions()
			if len(p) != 1 || p[0].Protocol != "-1" || p[0].Groups[0].GroupName != "lb" || p[0].FromPort != nil {
				t.Errorf("%+v", p)
			}
		}},
		{"structured", "GroupId=sg-1&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort=53&IpPermissions.1.ToPort=53" +
			"&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.IpRanges.1.Description=dns" +
			"&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=::/0&IpPermissions.1.Groups.1.GroupId=sg-2&IpPermissions.2.IpProtocol=-1" +
			"&IpPermissions.2.Groups.1.GroupName=other", openami.Internal, func(t *testing.T, in *permissionsInput) {
			p, _ := in.permissions()
			if len(p) != 2 || p[0].IPRanges[0].Description != "dns" || p[0].IPv6Ranges[0].CIDR != "::/0" || p[0].Groups[0].GroupID != "sg-2" ||
				p[1].Protocol != "-1" || p[1].Groups[0].GroupName != "other" {
				t.Errorf("%+v", p)
			}
		}},
		{"both forms", "GroupId=sg-1&CidrIp=0.0.0.0/0&IpPermissions.1.IpProtocol=tcp", openami.InvalidCombination, nil},
		{"prefix lists", "GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.PrefixListIds.1.PrefixListId=pl-1", openami.Unsupported, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := url.ParseQuery(c.form)
			if err != nil {
				t.Fatal(err)
			}
			var in permissionsInput
			if err := awsquery.Decode(v, &in); err != nil {
				t.Fatal(err)
			}
			_, err = in.permissions()
			if got := openami.ClassOf(err); err != nil && got != c.class || err == nil && c.class != openami.Internal {
				t.Fatalf("error %v, want class %s", err, c.class)
			}
			if c.check != nil {
				c.check(t, &in)
			}
		})
	}
}
