package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/rules/identity"
)

// TestDescribeInstancesGroupFilters filters instances by their security
// groups, by name and by id, with the aws CLI and with aws-sdk-go-v2:
// instance.group-*, network-interface.group-* and the old group-* names,
// against `openami serve --runtime none`.
func TestDescribeInstancesGroupFilters(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the aws CLI is not on the PATH; install it (apt-get install awscli) — .ci/run does")
	}
	// The binary, as a user runs it.
	dataDir := t.TempDir()
	endpoint, _ := serveBinary(t, "--data-dir", dataDir, "--runtime", "none", "--regions", "us-east-1")
	s := &server{URL: endpoint}
	c := readCredentials(t, filepath.Join(dataDir, "credentials"))
	e := s.ec2(c, "us-east-1")
	ctx := context.Background()
	img := registerTestImage(t, s, e, c, "groups")
	group := func(name string) string {
		out, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.GroupId
	}
	web, db := group("web"), group("db")
	run := func(groups ...string) string {
		out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: groups})
		if err != nil {
			t.Fatal(err)
		}
		return *out.Instances[0].InstanceId
	}
	onlyWeb, both, onlyDB := run(web), run(web, db), run(db)

	// The CLI, as a user types it.
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"Name=instance.group-name,Values=web", []string{onlyWeb, both}},
		{"Name=instance.group-name,Values=db", []string{both, onlyDB}},
		{"Name=instance.group-id,Values=" + db, []string{both, onlyDB}},
		{"Name=network-interface.group-name,Values=w*", []string{onlyWeb, both}},
		{"Name=group-name,Values=nope", nil},
		{"Name=group-id,Values=" + web, []string{onlyWeb, both}},
	} {
		got := cliInstanceIDs(t, s, c, tc.filter)
		if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
			t.Errorf("aws ec2 describe-instances --filters %s: %v, want %v", tc.filter, got, want)
		}
	}
	got := cliInstanceIDs(t, s, c, "Name=instance.group-name,Values=web", "Name=instance.group-id,Values="+db)
	if !slices.Equal(got, []string{both}) {
		t.Errorf("web by name and db by id: %v, want [%s]", got, both)
	}

	// The SDK, through its paginator.
	for _, tc := range []struct {
		filters []types.Filter
		want    []string
	}{
		{[]types.Filter{{Name: aws.String("instance.group-name"), Values: []string{"db"}}}, []string{both, onlyDB}},
		{[]types.Filter{{Name: aws.String("network-interface.group-id"), Values: []string{web}}}, []string{onlyWeb, both}},
		{[]types.Filter{{Name: aws.String("instance.group-name"), Values: []string{"web"}}, {Name: aws.String("group-name"), Values: []string{"db"}}}, []string{both}},
		{[]types.Filter{{Name: aws.String("instance.group-name"), Values: []string{"default"}}}, nil},
	} {
		var got []string
		p := ec2.NewDescribeInstancesPaginator(e, &ec2.DescribeInstancesInput{Filters: tc.filters, MaxResults: aws.Int32(5)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Reservations {
				for _, i := range r.Instances {
					got = append(got, *i.InstanceId)
				}
			}
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
			t.Errorf("DescribeInstances %s: %v, want %v", filterText(tc.filters), got, want)
		}
	}
}

// cliInstanceIDs runs `aws ec2 describe-instances --filters …` and
// returns the ids of the instances it lists, sorted.
func cliInstanceIDs(t *testing.T, s *server, c identity.Credentials, filters ...string) []string {
	t.Helper()
	out := runCLI(t, s, c, append([]string{"ec2", "describe-instances", "--filters"}, filters...)...)
	var ids []string
	rs, _ := out["Reservations"].([]any)
	for _, r := range rs {
		is, _ := path(r, "Instances").([]any)
		for _, i := range is {
			ids = append(ids, path(i, "InstanceId").(string))
		}
	}
	slices.Sort(ids)
	return ids
}

func filterText(fs []types.Filter) string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Name)+"="+strings.Join(f.Values, ","))
	}
	return strings.Join(out, " ")
}
