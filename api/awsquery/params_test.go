package awsquery

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openami/openami"
)

func TestParams(t *testing.T) {
	tests := []struct {
		name, method, query, body string
		want                      map[string]string // each parameter's only value
		class                     openami.Class
		field                     string
	}{
		{name: "post body", method: "POST", body: "Action=DescribeRegions&Version=2016-11-15",
			want: map[string]string{"Action": "DescribeRegions", "Version": "2016-11-15"}},
		{name: "get query", method: "GET", query: "Action=DescribeRegions",
			want: map[string]string{"Action": "DescribeRegions"}},
		{name: "get body is not read", method: "GET", query: "Action=DescribeRegions", body: "Action=CreateKeyPair",
			want: map[string]string{"Action": "DescribeRegions"}},
		{name: "post query and body add up", method: "POST", query: "Version=2016-11-15", body: "Action=DescribeRegions",
			want: map[string]string{"Action": "DescribeRegions", "Version": "2016-11-15"}},
		{name: "presigned post", method: "POST",
			query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Signature=ab",
			body:  "Action=DescribeRegions",
			want:  map[string]string{"Action": "DescribeRegions", "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Signature": "ab"}},
		{name: "agreeing duplicate", method: "POST", query: "Action=DescribeRegions", body: "Action=DescribeRegions",
			want: map[string]string{"Action": "DescribeRegions"}},
		{name: "actions disagree", method: "POST", query: "Action=CreateKeyPair&KeyName=k", body: "Action=DescribeRegions",
			class: openami.InvalidCombination, field: "Action"},
		{name: "parameter disagrees", method: "POST", query: "KeyName=a", body: "Action=CreateKeyPair&KeyName=b",
			class: openami.InvalidCombination, field: "KeyName"},
		{name: "action twice in body", method: "POST", body: "Action=DescribeRegions&Action=CreateKeyPair",
			class: openami.InvalidCombination, field: "Action"},
		{name: "action twice in query", method: "GET", query: "Action=DescribeRegions&Action=CreateKeyPair",
			class: openami.InvalidCombination, field: "Action"},
		{name: "bad query", method: "GET", query: "Action=%zz", class: openami.InvalidParameter},
		{name: "bad body", method: "POST", body: "Action=%zz", class: openami.InvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/?"+tt.query, strings.NewReader(tt.body))
			got, err := Params(r, []byte(tt.body))
			if tt.want == nil {
				var oe *openami.Error
				if !errors.As(err, &oe) || oe.Class != tt.class || oe.Field != tt.field {
					t.Fatalf("Params = %v, %v; want a %v error about %q", got, err, tt.class, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if vs := got[k]; len(vs) != 1 || vs[0] != v {
					t.Errorf("%s = %q, want [%q]", k, vs, v)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok && !strings.HasPrefix(k, "X-Amz-") {
					t.Errorf("unexpected parameter %s = %q", k, got[k])
				}
			}
		})
	}
}
