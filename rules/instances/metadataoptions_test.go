package instances

import (
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
)

// TestModifyInstanceMetadataOptions: a change keeps what it does not name,
// is what the instance record (so DescribeInstances) and the metadata
// service's source then hold, refuses a bad value without changing
// anything, and is refused for another account's instance.
func TestModifyInstanceMetadataOptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	i := f.launch(t, "imds")
	got, err := f.machines.ModifyInstanceMetadataOptions(ctx, f.p, i.ID, openami.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 3})
	want := openami.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 3, HttpEndpoint: "enabled", InstanceMetadataTags: "disabled"}
	if err != nil || got != want {
		t.Fatalf("ModifyInstanceMetadataOptions = %+v, %v; want %+v", got, err, want)
	}
	if rec := f.instance(t, i.ID); rec.MetadataOptions != want {
		t.Fatalf("the record holds %+v", rec.MetadataOptions)
	}
	md, err := f.machines.InstanceMetadata(ctx, f.p.Region, i.ID)
	if err != nil || md.Instance.MetadataOptions != want {
		t.Fatalf("the metadata service reads %+v, %v", md.Instance.MetadataOptions, err)
	}
	_, err = f.machines.ModifyInstanceMetadataOptions(ctx, f.p, i.ID, openami.MetadataOptions{HttpEndpoint: "off", InstanceMetadataTags: "enabled"})
	wantClass(t, "a bad HttpEndpoint", err, openami.InvalidParameter, "")
	if rec := f.instance(t, i.ID); rec.MetadataOptions != want {
		t.Fatalf("a refused change left %+v", rec.MetadataOptions)
	}
	other := rulestest.NewAccount(t, f.accounts, "other")
	_, err = f.machines.ModifyInstanceMetadataOptions(ctx, other, i.ID, openami.MetadataOptions{HttpTokens: "optional"})
	wantClass(t, "another account's instance", err, openami.NotFound, openami.ResourceInstance)
}
