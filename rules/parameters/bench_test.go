package parameters

import (
	"context"
	"fmt"
	"testing"

	"github.com/openami/openami"
)

// BenchmarkParameters measures, over SQLite, the lookups a fleet makes of
// an account with 10,000 parameters in 100 hierarchies: GetParameter of
// one name, one page (10) of GetParametersByPath down a hierarchy of 100,
// and ResolveImage of an aws:ec2:image parameter (docs/BENCHMARKS.md).
func BenchmarkParameters(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	img := f.image(b, f.p, false)
	for i := range 100 {
		for j := range 100 {
			if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: fmt.Sprintf("/app%02d/key%03d", i, j), Value: "v", Type: "String"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/ami/latest", Value: img, Type: "String", DataType: openami.DataTypeEC2Image}); err != nil {
		b.Fatal(err)
	}
	b.Run("GetParameter", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.params.GetParameter(ctx, f.p, "/app42/key042"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParametersByPath", func(b *testing.B) {
		for b.Loop() {
			if list, _, err := f.params.GetParametersByPath(ctx, f.p, ByPathInput{Path: "/app42", MaxResults: 10}); err != nil || len(list) != 10 {
				b.Fatal(len(list), err)
			}
		}
	})
	b.Run("ResolveImage", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.params.ResolveImage(ctx, f.p, "resolve:ssm:/ami/latest"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
