package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openami/openami/api"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
)

// BenchmarkDescribeImagesHandler measures what one DescribeImages request
// costs inside the server, without a network or another process: the
// API handler on SQLite, seeded like BenchmarkImages at moto's scale
// (5 accounts × 1000 images), given requests aws-sdk-go-v2 signed. It is
// the one to profile:
//
//	go test -run '^$' -bench DescribeImagesHandler -cpuprofile cpu.out ./bench/
func BenchmarkDescribeImagesHandler(b *testing.B) {
	ctx := context.Background()
	dataDir := b.TempDir()
	set := seedOpenami(b, dataDir, "", 5)

	key, err := seal.LoadOrCreate(dataDir)
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Open(filepath.Join(dataDir, "metadata.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	regions, err := identity.ParseRegions(identity.DefaultRegions)
	if err != nil {
		b.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		if blobs[r.Name], err = dir.New(filepath.Join(dataDir, "blocks", r.Name)); err != nil {
			b.Fatal(err)
		}
	}
	svc, err := service.New(ctx, service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs})
	if err != nil {
		b.Fatal(err)
	}
	h := api.New(svc, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), api.Limits{})
	// The SDK signs each request; the benchmark replays them, so that it
	// measures the server alone. The server does not refuse a replayed
	// request (signatures are good for 15 minutes).
	capture := &capturingClient{}
	c := ec2.NewFromConfig(aws.Config{
		Region:       imagesRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(set.key, set.secret, ""),
		BaseEndpoint: aws.String("http://openami.invalid"),
		HTTPClient:   capture,
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	for _, q := range imageQueries {
		capture.reqs = nil
		for k := range 10 {
			c.DescribeImages(ctx, q.input(set, k)) // the capturing client fails it
		}
		reqs := capture.reqs
		b.Run(q.name, func(b *testing.B) {
			k := 0
			for b.Loop() {
				r := reqs[k%len(reqs)]
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r.request())
				if w.Code != http.StatusOK {
					b.Fatalf("%d: %s", w.Code, w.Body)
				}
				if n := bytes.Count(w.Body.Bytes(), []byte("<imageId>")); n != q.want(set) {
					b.Fatalf("%d images, want %d", n, q.want(set))
				}
				k++
			}
		})
	}
}

// capturingClient is an aws.HTTPClient that keeps each request and fails
// it.
type capturingClient struct{ reqs []capturedRequest }

type capturedRequest struct {
	r    *http.Request
	body []byte
}

func (c *capturingClient) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.reqs = append(c.reqs, capturedRequest{r, body})
	return nil, errors.New("captured")
}

// request returns a new request with the captured one's headers and body.
func (c capturedRequest) request() *http.Request {
	r := httptest.NewRequest(c.r.Method, c.r.URL.String(), bytes.NewReader(c.body))
	r.Header = c.r.Header.Clone()
	r.Host = c.r.Host
	return r
}
