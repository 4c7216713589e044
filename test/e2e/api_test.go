package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openami/openami/rules/identity"
)

// rawCall sends a signed EC2 Query request with the given form and returns
// the status and body.
func rawCall(t *testing.T, s *server, c identity.Credentials, region, service string, form url.Values, at time.Time) (int, string) {
	t.Helper()
	body := form.Encode()
	req, _ := http.NewRequest("POST", s.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		good := s.account(t, "carol")
		describe := url.Values{"Action": {"DescribeRegions"}, "Version": {"2016-11-15"}}

		if status, body := rawCall(t, s, good, "us-east-1", "ec2", describe, time.Now()); status != 200 || !strings.Contains(body, "<regionName>us-east-1</regionName>") {
			t.Fatalf("good request: %d %s", status, body)
		}
		for _, tc := range []struct {
			name   string
			creds  identity.Credentials
			region string
			at     time.Time
			code   string
		}{
			{"wrong secret", identity.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "wrong"}, "us-east-1", time.Now(), "SignatureDoesNotMatch"},
			{"unknown key", identity.Credentials{AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", SecretAccessKey: "x"}, "us-east-1", time.Now(), "AuthFailure"},
			{"stale date", good, "us-east-1", time.Now().Add(-20 * time.Minute), "RequestExpired"},
			{"future date", good, "us-east-1", time.Now().Add(20 * time.Minute), "RequestExpired"},
			{"unserved region", good, "ap-south-1", time.Now(), "AuthFailure"},
		} {
			status, body := rawCall(t, s, tc.creds, tc.region, "ec2", describe, tc.at)
			if status < 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, "<RequestID>") {
				t.Errorf("%s: %d %s", tc.name, status, body)
			}
		}

		// Unsigned requests are refused.
		resp, err := http.Post(s.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(describe.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !bytes.Contains(b, []byte("MissingAuthenticationToken")) {
			t.Errorf("unsigned: %d %s", resp.StatusCode, b)
		}

		// A failed signature check has no effect.
		bad := identity.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "wrong"}
		rawCall(t, s, bad, "us-east-1", "ec2", url.Values{"Action": {"CreateKeyPair"}, "Version": {"2016-11-15"}, "KeyName": {"sneaky"}}, time.Now())
		out, err := s.ec2(good, "us-east-1").DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil || len(out.KeyPairs) != 0 {
			t.Fatalf("a badly signed CreateKeyPair had an effect: %v %+v", err, out)
		}

		// Presigned query form.
		req, _ := http.NewRequest("GET", s.URL+"/?Action=DescribeRegions&Version=2016-11-15", nil)
		signed, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: good.SecretAccessKey},
			req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ec2", "eu-west-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err = http.Get(signed)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte("DescribeRegionsResponse")) {
			t.Errorf("presigned: %d %s", resp.StatusCode, b)
		}

		// A disabled account is refused at once, and works again when enabled.
		if _, err := s.svc.Identity().SetAccountStatus(ctx, "carol", "disabled"); err != nil {
			t.Fatal(err)
		}
		_, err = s.ec2(good, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		wantCode(t, err, "AuthFailure")
		if _, err := s.svc.Identity().SetAccountStatus(ctx, "carol", "active"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ec2(good, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProtocolErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		for _, tc := range []struct {
			form url.Values
			code string
		}{
			{url.Values{"Action": {"FlyToTheMoon"}, "Version": {"2016-11-15"}}, "InvalidAction"},
			{url.Values{"Version": {"2016-11-15"}}, "MissingAction"},
			{url.Values{"Action": {"CreateKeyPair"}, "Version": {"2016-11-15"}}, "MissingParameter"},
			{url.Values{"Action": {"DescribeKeyPairs"}, "Version": {"2016-11-15"}, "Colour": {"blue"}}, "UnknownParameter"},
			{url.Values{"Action": {"DescribeKeyPairs"}, "Version": {"2016-11-15"}, "IncludePublicKey": {"maybe"}}, "InvalidParameterValue"},
			{url.Values{"Action": {"DescribeKeyPairs"}, "Version": {"2016-11-15"}, "Filter.1.Value.1": {"x"}}, "MissingParameter"},
		} {
			status, body := rawCall(t, s, s.admin, "us-east-1", "ec2", tc.form, time.Now())
			if status != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Errorf("%v: %d %s", tc.form, status, body)
			}
		}

		// DryRun answers DryRunOperation and changes nothing.
		c := s.ec2(s.admin, "us-east-1")
		_, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("dry"), DryRun: aws.Bool(true)})
		wantCode(t, err, "DryRunOperation")
		out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil || len(out.KeyPairs) != 0 {
			t.Fatalf("dry run created a key pair: %v %+v", err, out)
		}
	})
}

func TestRegionsZonesAndIdentity(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		regions, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range regions.Regions {
			names = append(names, *r.RegionName)
		}
		if strings.Join(names, ",") != "us-east-1,us-east-2,us-west-2,eu-west-1" {
			t.Fatalf("regions %v", names)
		}
		one, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("region-name"), Values: []string{"eu-*"}}}})
		if err != nil || len(one.Regions) != 1 || *one.Regions[0].RegionName != "eu-west-1" {
			t.Fatalf("region filter: %v %+v", err, one)
		}
		_, err = c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"mars-north-1"}})
		wantCode(t, err, "InvalidParameterValue")

		zones, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(zones.AvailabilityZones) != 6 || *zones.AvailabilityZones[0].ZoneName != "us-east-1a" || *zones.AvailabilityZones[0].ZoneId != "use1-az1" {
			t.Fatalf("zones %+v", zones.AvailabilityZones)
		}
		z, err := s.ec2(s.admin, "us-west-2").DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
			Filters: []types.Filter{{Name: aws.String("zone-id"), Values: []string{"usw2-az2"}}},
		})
		if err != nil || len(z.AvailabilityZones) != 1 || *z.AvailabilityZones[0].ZoneName != "us-west-2b" {
			t.Fatalf("zone filter: %v %+v", err, z)
		}

		attrs, err := c.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []types.AccountAttributeName{"default-vpc"}})
		if err != nil || len(attrs.AccountAttributes) != 1 || *attrs.AccountAttributes[0].AttributeValues[0].AttributeValue != "none" {
			t.Fatalf("account attributes: %v %+v", err, attrs)
		}

		bob := s.account(t, "bob")
		id, err := s.sts(bob).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if *id.Account != bob.AccountID || *id.Arn != "arn:aws:iam::"+bob.AccountID+":root" {
			t.Fatalf("caller identity %+v", id)
		}
	})
}

func TestMetrics(t *testing.T) {
	s := start(t, "sqlite")
	if _, err := s.ec2(s.admin, "us-east-1").DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`openami_requests_total{action="DescribeRegions",code="",service="ec2"} 1`,
		`openami_request_duration_seconds_count{action="DescribeRegions",service="ec2"} 1`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
