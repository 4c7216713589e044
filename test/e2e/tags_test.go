package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestTags(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		var keyIDs []string
		for i := 0; i < 3; i++ {
			out, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(fmt.Sprintf("k%d", i)), KeyType: types.KeyTypeEd25519})
			if err != nil {
				t.Fatal(err)
			}
			keyIDs = append(keyIDs, *out.KeyPairId)
		}
		var tags []types.Tag
		for i := 0; i < 4; i++ {
			tags = append(tags, types.Tag{Key: aws.String(fmt.Sprintf("key%d", i)), Value: aws.String(fmt.Sprintf("v%d", i))})
		}
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: keyIDs, Tags: tags}); err != nil {
			t.Fatal(err)
		}
		// Overwrite one value.
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: keyIDs[:1], Tags: []types.Tag{{Key: aws.String("key0"), Value: aws.String("new")}}}); err != nil {
			t.Fatal(err)
		}

		// 12 tags, paged 5 at a time with the SDK's paginator.
		var all []types.TagDescription
		pages := 0
		p := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, out.Tags...)
		}
		if len(all) != 12 || pages != 3 {
			t.Fatalf("got %d tags in %d pages, want 12 in 3", len(all), pages)
		}
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if *a.ResourceId > *b.ResourceId || *a.ResourceId == *b.ResourceId && *a.Key >= *b.Key {
				t.Fatalf("tags out of order at %d: %v %v", i, *a.ResourceId+*a.Key, *b.ResourceId+*b.Key)
			}
			if a.ResourceType != types.ResourceTypeKeyPair {
				t.Fatalf("resource type %q", a.ResourceType)
			}
		}

		// Filters.
		count := func(filters ...types.Filter) int {
			t.Helper()
			out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: filters})
			if err != nil {
				t.Fatal(err)
			}
			return len(out.Tags)
		}
		f := func(name string, values ...string) types.Filter {
			return types.Filter{Name: aws.String(name), Values: values}
		}
		if n := count(f("resource-id", keyIDs[0])); n != 4 {
			t.Errorf("resource-id filter: %d", n)
		}
		if n := count(f("key", "key1", "key2")); n != 6 {
			t.Errorf("key filter: %d", n)
		}
		if n := count(f("value", "new")); n != 1 {
			t.Errorf("value filter: %d", n)
		}
		if n := count(f("key", "key*"), f("value", "v3")); n != 3 {
			t.Errorf("key+value filter: %d", n)
		}
		if n := count(f("resource-type", "image")); n != 0 {
			t.Errorf("resource-type filter: %d", n)
		}

		// A token is bound to its query.
		first, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5), NextToken: first.NextToken, Filters: []types.Filter{f("key", "key1")}})
		wantCode(t, err, "InvalidPaginationToken")
		_, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{NextToken: aws.String("garbage")})
		wantCode(t, err, "InvalidPaginationToken")
		_, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(2)})
		wantCode(t, err, "InvalidParameterValue")

		// DeleteTags: by key, only when the value matches, and all.
		_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: keyIDs[:1], Tags: []types.Tag{{Key: aws.String("key0"), Value: aws.String("old")}, {Key: aws.String("key1")}}})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(f("resource-id", keyIDs[0])); n != 3 {
			t.Errorf("after value-guarded delete: %d tags, want 3", n)
		}
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: keyIDs[1:2]}); err != nil {
			t.Fatal(err)
		}
		if n := count(f("resource-id", keyIDs[1])); n != 0 {
			t.Errorf("after delete-all: %d tags", n)
		}

		// Errors change nothing: an unknown resource among known ones.
		_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{keyIDs[2], "key-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("z"), Value: aws.String("z")}}})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		if n := count(f("key", "z")); n != 0 {
			t.Errorf("a failed CreateTags left %d tags", n)
		}
		_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"bogus"}, Tags: []types.Tag{{Key: aws.String("z"), Value: aws.String("z")}}})
		wantCode(t, err, "InvalidID")
		_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: keyIDs[2:], Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("z")}}})
		wantCode(t, err, "InvalidParameterValue")
		var many []types.Tag
		for i := 0; i < 47; i++ {
			many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("m%d", i)), Value: aws.String("")})
		}
		_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: keyIDs[2:], Tags: many})
		wantCode(t, err, "TagLimitExceeded")
		if n := count(f("resource-id", keyIDs[2])); n != 4 {
			t.Errorf("a failed CreateTags changed tags: %d", n)
		}
	})
}
