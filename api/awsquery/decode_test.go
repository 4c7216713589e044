package awsquery

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
)

// The request types below mirror the EC2 and STS shapes whose wire forms
// are listed in EC2-NOTES.md §4.2.

type filter struct {
	Name   string   `query:"Name,required"`
	Values []string `query:"Value"`
}

type common struct {
	DryRun bool
}

type describeImages struct {
	common
	ImageIDs          []string `query:"ImageId"`
	Owners            []string `query:"Owner"`
	ExecutableUsers   []string `query:"ExecutableBy"`
	Filters           []filter `query:"Filter"`
	IncludeDeprecated *bool
	IncludeDisabled   *bool
	MaxResults        *int32
	NextToken         *string
}

type ebs struct {
	SnapshotID          *string `query:"SnapshotId"`
	VolumeSize          *int32
	VolumeType          *string
	DeleteOnTermination *bool
	Iops                *int32
	Encrypted           *bool
}

type blockDeviceMapping struct {
	DeviceName  string `query:"DeviceName,required"`
	VirtualName *string
	NoDevice    *string
	Ebs         *ebs
}

type tag struct {
	Key   string `query:"Key,required"`
	Value string
}

type tagSpecification struct {
	ResourceType string
	Tags         []tag `query:"Tag"`
}

type registerImage struct {
	common
	Name                string `query:"Name,required"`
	Architecture        string
	RootDeviceName      string
	VirtualizationType  string
	EnaSupport          *bool
	BootMode            string
	ImdsSupport         string
	TpmSupport          string
	SriovNetSupport     string
	BillingProducts     []string             `query:"BillingProduct"`
	BlockDeviceMappings []blockDeviceMapping `query:"BlockDeviceMapping"`
	TagSpecifications   []tagSpecification   `query:"TagSpecification"`
}

type launchPermission struct {
	UserID                *string `query:"UserId"`
	Group                 *string
	OrganizationArn       *string
	OrganizationalUnitArn *string
}

type attributeValue struct {
	Value string
}

type modifyImageAttribute struct {
	ImageID          string `query:"ImageId,required"`
	LaunchPermission *struct {
		Add    []launchPermission
		Remove []launchPermission
	}
	Description   *attributeValue
	ImdsSupport   *attributeValue
	Attribute     string
	OperationType string
	UserIDs       []string `query:"UserId"`
	UserGroups    []string `query:"UserGroup"`
	Internal      string   `query:"-"`
	hidden        string
}

type runInstances struct {
	ImageID             string `query:"ImageId"`
	MinCount            int32  `query:",required"`
	MaxCount            int32  `query:",required"`
	InstanceType        string
	KeyName             string
	BlockDeviceMappings []blockDeviceMapping `query:"BlockDeviceMapping"`
	SecurityGroupIDs    []string             `query:"SecurityGroupId"`
	UserData            string
}

type importKeyPair struct {
	KeyName           string `query:",required"`
	PublicKeyMaterial []byte `query:",required"`
}

type enableImageDeprecation struct {
	ImageID     string    `query:"ImageId,required"`
	DeprecateAt time.Time `query:",required"`
}

type policyArn struct {
	Arn string `query:"arn"`
}

type assumeRole struct {
	RoleArn         string `query:",required"`
	RoleSessionName string `query:",required"`
	DurationSeconds *int32
	Tags            []tag       `query:"Tags.member"`
	PolicyArns      []policyArn `query:"PolicyArns.member"`
}

type kinds struct {
	S     string
	B     bool
	I     int
	I32   int32
	I64   int64
	F     float64
	T     time.Time
	Blob  []byte
	PS    *string
	PB    *bool
	PI    *int
	PF    *float64
	PT    *time.Time
	PBlob *[]byte
	Ints  []int64
	PStrs []*string
	Blobs [][]byte
	Times []time.Time
	Bools []bool
	Arch  architecture
	Nest  nest
	PNest *nest
	Tree  *tree
}

type architecture string

type nest struct {
	Inner struct {
		List []struct {
			Deep struct{ X *int64 }
		}
	}
}

// tree is recursive, to show plans for self-referencing types terminate.
type tree struct {
	Name     string
	Children []tree `query:"Child"`
}

func ptr[T any](v T) *T { return &v }

func q(t *testing.T, s string) url.Values {
	t.Helper()
	// The wire examples are written over several lines for reading.
	s = strings.Join(strings.Fields(s), "")
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", s, err)
	}
	return v
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		query string
		into  any // a pointer to a zero request
		want  any // the expected request, same pointer type
	}{
		{
			name: "DescribeImages",
			query: `Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-1&Owner.1=self&ExecutableBy.1=all
				&Filter.1.Name=name&Filter.1.Value.1=a*&Filter.1.Value.2=b
				&Filter.2.Name=tag:Env&Filter.2.Value.1=prod&IncludeDeprecated=true&IncludeDisabled=false
				&MaxResults=10&NextToken=tok&DryRun=true
				&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc`,
			into: &describeImages{},
			want: &describeImages{
				common:          common{DryRun: true},
				ImageIDs:        []string{"ami-1"},
				Owners:          []string{"self"},
				ExecutableUsers: []string{"all"},
				Filters: []filter{
					{Name: "name", Values: []string{"a*", "b"}},
					{Name: "tag:Env", Values: []string{"prod"}},
				},
				IncludeDeprecated: ptr(true),
				IncludeDisabled:   ptr(false),
				MaxResults:        ptr[int32](10),
				NextToken:         ptr("tok"),
			},
		},
		{
			name:  "DescribeImages empty: absent pointers stay nil",
			query: `Action=DescribeImages&Version=2016-11-15`,
			into:  &describeImages{},
			want:  &describeImages{},
		},
		{
			name: "sparse lists keep index order and close gaps",
			query: `ImageId.10=ami-10&ImageId.2=ami-2&ImageId.7=ami-7
				&Filter.3.Name=b&Filter.3.Value.5=y&Filter.3.Value.1=x&Filter.1.Name=a&Filter.1.Value.1000=z`,
			into: &describeImages{},
			want: &describeImages{
				ImageIDs: []string{"ami-2", "ami-7", "ami-10"},
				Filters: []filter{
					{Name: "a", Values: []string{"z"}},
					{Name: "b", Values: []string{"x", "y"}},
				},
			},
		},
		{
			name:  "a parameter repeated with the same value is one value",
			query: `ImageId.1=ami-1&ImageId.1=ami-1`,
			into:  &describeImages{},
			want:  &describeImages{ImageIDs: []string{"ami-1"}},
		},
		{
			name:  "booleans are case-insensitive",
			query: `IncludeDeprecated=TRUE&IncludeDisabled=False&DryRun=tRuE`,
			into:  &describeImages{},
			want:  &describeImages{common: common{DryRun: true}, IncludeDeprecated: ptr(true), IncludeDisabled: ptr(false)},
		},
		{
			name: "RegisterImage",
			query: `Action=RegisterImage&Version=2016-11-15&Name=img&Architecture=x86_64&RootDeviceName=/dev/xvda
				&VirtualizationType=hvm&EnaSupport=true&BootMode=uefi
				&ImdsSupport=v2.0&TpmSupport=v2.0&SriovNetSupport=simple&BillingProduct.1=bp-1
				&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.SnapshotId=snap-1&BlockDeviceMapping.1.Ebs.VolumeSize=8
				&BlockDeviceMapping.1.Ebs.VolumeType=gp3&BlockDeviceMapping.1.Ebs.DeleteOnTermination=true&BlockDeviceMapping.1.Ebs.Iops=3000
				&BlockDeviceMapping.2.DeviceName=/dev/sdb&BlockDeviceMapping.2.VirtualName=ephemeral0
				&BlockDeviceMapping.3.DeviceName=/dev/sdc&BlockDeviceMapping.3.NoDevice=
				&TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v`,
			into: &registerImage{},
			want: &registerImage{
				Name:               "img",
				Architecture:       "x86_64",
				RootDeviceName:     "/dev/xvda",
				VirtualizationType: "hvm",
				EnaSupport:         ptr(true),
				BootMode:           "uefi",
				ImdsSupport:        "v2.0",
				TpmSupport:         "v2.0",
				SriovNetSupport:    "simple",
				BillingProducts:    []string{"bp-1"},
				BlockDeviceMappings: []blockDeviceMapping{
					{DeviceName: "/dev/xvda", Ebs: &ebs{
						SnapshotID: ptr("snap-1"), VolumeSize: ptr[int32](8), VolumeType: ptr("gp3"),
						DeleteOnTermination: ptr(true), Iops: ptr[int32](3000),
					}},
					{DeviceName: "/dev/sdb", VirtualName: ptr("ephemeral0")},
					{DeviceName: "/dev/sdc", NoDevice: ptr("")},
				},
				TagSpecifications: []tagSpecification{
					{ResourceType: "image", Tags: []tag{{Key: "k", Value: "v"}}},
				},
			},
		},
		{
			name:  "a struct present only through an empty value is created",
			query: `Name=img&BlockDeviceMapping.3.NoDevice=&BlockDeviceMapping.3.DeviceName=`,
			into:  &registerImage{},
			want: &registerImage{
				Name:                "img",
				BlockDeviceMappings: []blockDeviceMapping{{NoDevice: ptr("")}},
			},
		},
		{
			name: "CreateImage-style TagSpecification numbered from 2",
			query: `Name=img&TagSpecification.2.ResourceType=snapshot&TagSpecification.2.Tag.1.Key=k
				&TagSpecification.2.Tag.3.Key=k3&TagSpecification.2.Tag.3.Value=`,
			into: &registerImage{},
			want: &registerImage{
				Name: "img",
				TagSpecifications: []tagSpecification{
					{ResourceType: "snapshot", Tags: []tag{{Key: "k"}, {Key: "k3"}}},
				},
			},
		},
		{
			name: "ModifyImageAttribute",
			query: `Action=ModifyImageAttribute&ImageId=ami-1&LaunchPermission.Add.1.UserId=111122223333&LaunchPermission.Add.2.Group=all
				&LaunchPermission.Remove.1.OrganizationArn=arn:aws:organizations::1:organization/o-1
				&Description.Value=d&ImdsSupport.Value=v2.0`,
			into: &modifyImageAttribute{},
			want: &modifyImageAttribute{
				ImageID: "ami-1",
				LaunchPermission: &struct {
					Add    []launchPermission
					Remove []launchPermission
				}{
					Add:    []launchPermission{{UserID: ptr("111122223333")}, {Group: ptr("all")}},
					Remove: []launchPermission{{OrganizationArn: ptr("arn:aws:organizations::1:organization/o-1")}},
				},
				Description: &attributeValue{Value: "d"},
				ImdsSupport: &attributeValue{Value: "v2.0"},
			},
		},
		{
			name:  "ModifyImageAttribute legacy form",
			query: `ImageId=ami-1&Attribute=launchPermission&OperationType=add&UserId.1=1&UserId.2=2&UserGroup.1=all`,
			into:  &modifyImageAttribute{},
			want: &modifyImageAttribute{
				ImageID: "ami-1", Attribute: "launchPermission", OperationType: "add",
				UserIDs: []string{"1", "2"}, UserGroups: []string{"all"},
			},
		},
		{
			name: "RunInstances",
			query: `Action=RunInstances&ImageId=ami-1&MinCount=1&MaxCount=1&InstanceType=t3.micro&KeyName=k
				&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=20&SecurityGroupId.1=sg-1&UserData=aGk=`,
			into: &runInstances{},
			want: &runInstances{
				ImageID: "ami-1", MinCount: 1, MaxCount: 1, InstanceType: "t3.micro", KeyName: "k",
				BlockDeviceMappings: []blockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &ebs{VolumeSize: ptr[int32](20)}}},
				SecurityGroupIDs:    []string{"sg-1"},
				UserData:            "aGk=",
			},
		},
		{
			name:  "ImportKeyPair blob",
			query: `KeyName=k&PublicKeyMaterial=c3NoLWVkMjU1MTkgQUFBQQ==`,
			into:  &importKeyPair{},
			want:  &importKeyPair{KeyName: "k", PublicKeyMaterial: []byte("ssh-ed25519 AAAA")},
		},
		{
			name:  "empty blob is present and empty",
			query: `KeyName=k&PublicKeyMaterial=`,
			into:  &importKeyPair{},
			want:  &importKeyPair{KeyName: "k", PublicKeyMaterial: []byte{}},
		},
		{
			name:  "EnableImageDeprecation",
			query: `ImageId=ami-1&DeprecateAt=2030-01-01T00:00:00Z`,
			into:  &enableImageDeprecation{},
			want:  &enableImageDeprecation{ImageID: "ami-1", DeprecateAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		{
			name:  "time with fractional seconds and an offset",
			query: `ImageId=ami-1&DeprecateAt=2030-01-01T02:00:00.250%2B02:00`,
			into:  &enableImageDeprecation{},
			want:  &enableImageDeprecation{ImageID: "ami-1", DeprecateAt: time.Date(2030, 1, 1, 0, 0, 0, 250e6, time.UTC)},
		},
		{
			name: "STS AssumeRole with member lists",
			query: `Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::1:role/r&RoleSessionName=s&DurationSeconds=900
				&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Key=b&PolicyArns.member.1.arn=arn:p`,
			into: &assumeRole{},
			want: &assumeRole{
				RoleArn: "arn:aws:iam::1:role/r", RoleSessionName: "s", DurationSeconds: ptr[int32](900),
				Tags:       []tag{{Key: "a", Value: "1"}, {Key: "b"}},
				PolicyArns: []policyArn{{Arn: "arn:p"}},
			},
		},
		{
			name: "every kind",
			query: `S=s&B=false&I=-5&I32=2147483647&I64=-9223372036854775808&F=1.5&T=2030-01-01T00:00:00.000Z&Blob=AAE=
				&PS=&PB=true&PI=0&PF=0&PT=2031-02-03T04:05:06Z&PBlob=AA==&Ints.1=1&Ints.3=3&PStrs.1=&PStrs.2=x
				&Blobs.1=AQ==&Times.1=2030-01-01T00:00:00Z&Bools.1=false&Arch=arm64
				&Nest.Inner.List.2.Deep.X=7&PNest.Inner.List.1.Deep.X=8
				&Tree.Name=root&Tree.Child.1.Name=a&Tree.Child.1.Child.1.Name=b`,
			into: &kinds{},
			want: func() *kinds {
				k := &kinds{
					S: "s", I: -5, I32: 2147483647, I64: -9223372036854775808, F: 1.5,
					T:    time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
					Blob: []byte{0, 1},
					PS:   ptr(""), PB: ptr(true), PI: ptr(0), PF: ptr(0.0),
					PT:    ptr(time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)),
					PBlob: ptr([]byte{0}),
					Ints:  []int64{1, 3},
					PStrs: []*string{ptr(""), ptr("x")},
					Blobs: [][]byte{{1}},
					Times: []time.Time{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
					Bools: []bool{false},
					Arch:  "arm64",
					PNest: &nest{},
					Tree:  &tree{Name: "root", Children: []tree{{Name: "a", Children: []tree{{Name: "b"}}}}},
				}
				k.Nest.Inner.List = make([]struct{ Deep struct{ X *int64 } }, 1)
				k.Nest.Inner.List[0].Deep.X = ptr[int64](7)
				k.PNest.Inner.List = make([]struct{ Deep struct{ X *int64 } }, 1)
				k.PNest.Inner.List[0].Deep.X = ptr[int64](8)
				return k
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Decode(q(t, tt.query), tt.into); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(tt.into, tt.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", tt.into, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		into  any
		class openami.Class
		msg   string
	}{
		// Unknown parameters.
		{"unknown top-level", `Foo=1`, &describeImages{}, openami.UnknownParameter, "The parameter Foo is not recognized"},
		{"unknown member", `Filter.1.Name=a&Filter.1.Nme=b`, &describeImages{}, openami.UnknownParameter, "The parameter Filter.1.Nme is not recognized"},
		{"list without index", `ImageId=ami-1`, &describeImages{}, openami.UnknownParameter, "The parameter ImageId is not recognized"},
		{"struct list item without member", `Filter.1=a`, &describeImages{}, openami.UnknownParameter, "The parameter Filter.1 is not recognized"},
		{"scalar with suffix", `DryRun.1=true`, &describeImages{}, openami.UnknownParameter, "The parameter DryRun.1 is not recognized"},
		{"struct without member", `BlockDeviceMapping.1.Ebs=x&Name=i`, &registerImage{}, openami.UnknownParameter, "The parameter BlockDeviceMapping.1.Ebs is not recognized"},
		{"non-numeric index", `ImageId.x=ami-1`, &describeImages{}, openami.UnknownParameter, "The parameter ImageId.x is not recognized"},
		{"empty index", `ImageId.=ami-1`, &describeImages{}, openami.UnknownParameter, "The parameter ImageId. is not recognized"},
		{"empty segment", `Filter..Name=a`, &describeImages{}, openami.UnknownParameter, "The parameter Filter..Name is not recognized"},
		{"skipped field", `Internal=x&ImageId=ami-1`, &modifyImageAttribute{}, openami.UnknownParameter, "The parameter Internal is not recognized"},
		{"unexported field", `ImageId=ami-1&hidden=x`, &modifyImageAttribute{}, openami.UnknownParameter, "The parameter hidden is not recognized"},
		{"case matters", `dryrun=true`, &describeImages{}, openami.UnknownParameter, "The parameter dryrun is not recognized"},
		{"member list spelled flat", `RoleArn=a&RoleSessionName=s&Tags.1.Key=k`, &assumeRole{}, openami.UnknownParameter, "The parameter Tags.1.Key is not recognized"},

		// List indexes.
		{"index zero", `ImageId.0=ami-1`, &describeImages{}, openami.InvalidParameter, "Invalid list index '0' in ImageId.0"},
		{"negative index", `ImageId.-1=ami-1`, &describeImages{}, openami.InvalidParameter, "Invalid list index '-1' in ImageId.-1"},
		{"index too large", `Filter.1001.Name=a`, &describeImages{}, openami.InvalidParameter, "Invalid list index '1001' in Filter.1001.Name"},
		{"huge index", `ImageId.99999999999999999999=a`, &describeImages{}, openami.InvalidParameter, "Invalid list index"},
		{"leading zero", `ImageId.01=ami-1`, &describeImages{}, openami.InvalidParameter, "Invalid list index '01'"},
		{"nested index too large", `Filter.1.Name=a&Filter.1.Value.1001=x`, &describeImages{}, openami.InvalidParameter, "Invalid list index '1001' in Filter.1.Value.1001"},

		// Values.
		{"bad bool", `DryRun=yes`, &describeImages{}, openami.InvalidParameter, "Invalid value 'yes' for DryRun"},
		{"empty bool", `IncludeDeprecated=`, &describeImages{}, openami.InvalidParameter, "Invalid value '' for IncludeDeprecated"},
		{"bad int", `MaxResults=ten`, &describeImages{}, openami.InvalidParameter, "Invalid value 'ten' for MaxResults"},
		{"int32 overflow", `MaxResults=2147483648`, &describeImages{}, openami.InvalidParameter, "Invalid value '2147483648' for MaxResults"},
		{"int64 overflow", `I64=9223372036854775808`, &kinds{}, openami.InvalidParameter, "Invalid value '9223372036854775808' for I64"},
		{"hex int", `I=0x10`, &kinds{}, openami.InvalidParameter, "Invalid value '0x10' for I"},
		{"float int", `I=1.0`, &kinds{}, openami.InvalidParameter, "Invalid value '1.0' for I"},
		{"bad float", `F=abc`, &kinds{}, openami.InvalidParameter, "Invalid value 'abc' for F"},
		{"NaN", `F=NaN`, &kinds{}, openami.InvalidParameter, "Invalid value 'NaN' for F"},
		{"bad time", `ImageId=ami-1&DeprecateAt=2030-01-01`, &enableImageDeprecation{}, openami.InvalidParameter, "Invalid value '2030-01-01' for DeprecateAt"},
		{"time without zone", `ImageId=ami-1&DeprecateAt=2030-01-01T00:00:00`, &enableImageDeprecation{}, openami.InvalidParameter, "Invalid value '2030-01-01T00:00:00' for DeprecateAt"},
		{"bad base64", `KeyName=k&PublicKeyMaterial=***`, &importKeyPair{}, openami.InvalidParameter, "Invalid value '***' for PublicKeyMaterial"},
		{"url base64 is not standard", `KeyName=k&PublicKeyMaterial=-_-_`, &importKeyPair{}, openami.InvalidParameter, "Invalid value '-_-_' for PublicKeyMaterial"},
		{"nested bad int", `Name=i&BlockDeviceMapping.1.DeviceName=/dev/sda&BlockDeviceMapping.1.Ebs.VolumeSize=big`, &registerImage{}, openami.InvalidParameter, "Invalid value 'big' for BlockDeviceMapping.1.Ebs.VolumeSize"},
		{"bad list item", `Ints.2=x`, &kinds{}, openami.InvalidParameter, "Invalid value 'x' for Ints.2"},

		// Repeated parameters.
		{"repeated with different values", `ImageId.1=ami-1&ImageId.1=ami-2`, &describeImages{}, openami.InvalidParameter, "The parameter ImageId.1 is given more than once with different values"},

		// Required parameters.
		{"missing top-level", `Action=RegisterImage`, &registerImage{}, openami.MissingParameter, "The request must contain the parameter Name"},
		{"missing tag-named", `KeyName=k`, &importKeyPair{}, openami.MissingParameter, "The request must contain the parameter PublicKeyMaterial"},
		{"missing in list item", `Filter.1.Name=a&Filter.2.Value.1=x`, &describeImages{}, openami.MissingParameter, "The request must contain the parameter Filter.2.Name"},
		{"missing deep", `Name=i&TagSpecification.4.Tag.7.Value=v`, &registerImage{}, openami.MissingParameter, "The request must contain the parameter TagSpecification.4.Tag.7.Key"},
		{"missing in member list", `RoleArn=a&RoleSessionName=s&Tags.member.3.Value=v`, &assumeRole{}, openami.MissingParameter, "The request must contain the parameter Tags.member.3.Key"},
		{"missing in first of two", `MinCount=1`, &runInstances{}, openami.MissingParameter, "The request must contain the parameter MaxCount"},

		// Order: the first bad parameter by name wins, and value errors
		// come before missing ones.
		{"first by name", `Zed=1&DryRun=maybe&Abc=1`, &describeImages{}, openami.UnknownParameter, "The parameter Abc is not recognized"},
		{"value error before missing", `DryRun=maybe`, &registerImage{}, openami.InvalidParameter, "Invalid value 'maybe' for DryRun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Decode(q(t, tt.query), tt.into)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", tt.into)
			}
			var e *openami.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *openami.Error", err, err)
			}
			if e.Class != tt.class {
				t.Errorf("class = %v, want %v (%v)", e.Class, tt.class, err)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.msg)
			}
		})
	}
}

func TestDecodeDeterministic(t *testing.T) {
	// Many bad parameters: the answer must not depend on map order.
	params := url.Values{}
	for _, n := range []string{"Zz", "Yy", "Mm", "Bb", "Cc", "Dd", "Ee", "Ff"} {
		params.Set(n, "1")
	}
	for range 20 {
		err := Decode(params, &describeImages{})
		if err == nil || err.Error() != "The parameter Bb is not recognized" {
			t.Fatalf("Decode = %v", err)
		}
	}
}

func TestDecodeProgrammingErrors(t *testing.T) {
	type badKind struct{ M map[string]string }
	type badTag struct {
		A string `query:"A,optional"`
	}
	type dupName struct {
		A string
		B string `query:"A"`
	}
	type badName struct {
		A string `query:"A..B"`
	}
	var nilPtr *describeImages
	for _, v := range []any{nil, describeImages{}, nilPtr, new(int), &badKind{}, &badTag{}, &dupName{}, &badName{}} {
		err := Decode(url.Values{}, v)
		if openami.ClassOf(err) != openami.Internal || err == nil {
			t.Errorf("Decode(%T) = %v, want an Internal error", v, err)
		}
	}
	// The cached plan gives the same answer the second time.
	if err := Decode(url.Values{}, &badKind{}); openami.ClassOf(err) != openami.Internal || err == nil {
		t.Errorf("second Decode(badKind) = %v", err)
	}
}

func TestDecodeLeavesAbsentFields(t *testing.T) {
	r := &describeImages{NextToken: ptr("keep"), ImageIDs: []string{"keep"}}
	if err := Decode(q(t, `Owner.1=self`), r); err != nil {
		t.Fatal(err)
	}
	if *r.NextToken != "keep" || r.ImageIDs[0] != "keep" || r.Owners[0] != "self" {
		t.Errorf("got %+v", r)
	}
}

func TestDecodeConcurrent(t *testing.T) {
	// Plans are built and cached concurrently; run with -race.
	type fresh struct {
		A []struct{ B *int64 }
	}
	done := make(chan error)
	for range 8 {
		go func() {
			var r fresh
			err := Decode(url.Values{"A.1.B": {"5"}}, &r)
			if err == nil && (len(r.A) != 1 || *r.A[0].B != 5) {
				err = errors.New("wrong result")
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// FuzzDecode decodes arbitrary query strings into request types that use
// every kind, required members and dotted wire names; it must never panic,
// and every failure must be a classified client error.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		"",
		"S=s&B=true&I=1&I32=2&I64=3&F=1.5&T=2030-01-01T00:00:00Z&Blob=AAE=",
		"Ints.1=1&Ints.1000=2&PStrs.3=&Blobs.2=AQ==&Times.1=2030-01-01T00:00:00.000Z&Bools.4=FALSE",
		"Nest.Inner.List.2.Deep.X=7&PNest.Inner.List.1.Deep.X=8",
		"Tree.Name=r&Tree.Child.1.Child.2.Child.3.Name=x",
		"Tree.Child.0.Name=x&Ints.01=1&Ints.-1=2&Ints.1001=3",
		"Nest.Inner=1&Nest..Inner&.=&..=.&=",
		"I=99999999999999999999&F=1e999&B=&PT=2030-13-01T00:00:00Z",
		"Action=X&Version=Y&X-Amz-Date=Z&S=a&S=b",
		"%zz=1&S=%ff",
		"Name=i&BlockDeviceMapping.2.NoDevice=&BlockDeviceMapping.2.Ebs.VolumeSize=8&TagSpecification.1.Tag.1.Value=v",
		"RoleArn=a&RoleSessionName=s&Tags.member.1.Key=k&PolicyArns.member.2.arn=x&Tags.member=1",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		params, _ := url.ParseQuery(query) // partial results are still input
		for _, v := range []any{&kinds{}, &registerImage{}, &assumeRole{}} {
			err := Decode(params, v)
			if err == nil {
				continue
			}
			var e *openami.Error
			if !errors.As(err, &e) || e.Class == openami.Internal {
				t.Fatalf("Decode(%q) into %T = %v, want a classified client error", query, v, err)
			}
		}
	})
}

func BenchmarkDecodeDescribeImages(b *testing.B) {
	params, err := url.ParseQuery(strings.Join(strings.Fields(`Action=DescribeImages&Version=2016-11-15
		&ImageId.1=ami-1&Owner.1=self&ExecutableBy.1=all&Filter.1.Name=name&Filter.1.Value.1=a*&Filter.1.Value.2=b
		&Filter.2.Name=tag:Env&Filter.2.Value.1=prod&IncludeDeprecated=true&IncludeDisabled=false&MaxResults=10
		&NextToken=tok&DryRun=true`), ""))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var r describeImages
		if err := Decode(params, &r); err != nil {
			b.Fatal(err)
		}
	}
}
