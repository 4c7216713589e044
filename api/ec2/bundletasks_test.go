package ec2

import (
	"bytes"
	"testing"
	"time"

	"github.com/openami/openami"
)

// TestBundleTaskShape: a task is written as EC2's BundleTask — storage.S3,
// progress in percent, the error of a cancelled and of a failed task, no
// error element otherwise.
func TestBundleTaskShape(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 4e6, time.UTC)
	task := openami.BundleTask{ID: "bun-1", InstanceID: "i-1", Bucket: "b", Prefix: "p", State: openami.BundleBundling,
		Progress: 42, StartTime: at, UpdateTime: at}
	for _, c := range []struct {
		what string
		edit func(*openami.BundleTask)
		want string
	}{
		{"running", func(*openami.BundleTask) {},
			`<instanceId>i-1</instanceId><bundleId>bun-1</bundleId><state>bundling</state><startTime>2026-12-07T01:02:03.004Z</startTime>` +
				`<updateTime>2026-12-07T01:02:03.004Z</updateTime><storage><S3><bucket>b</bucket><prefix>p</prefix></S3></storage><progress>42%</progress>`},
		{"cancelled", func(b *openami.BundleTask) { b.State, b.Cancelled = openami.BundleFailed, true },
			`<error><code>Client.Cancelled</code><message>The bundle task was cancelled.</message></error>`},
		{"failed", func(b *openami.BundleTask) { b.State, b.Failure = openami.BundleFailed, "the bucket is gone" },
			`<error><code>InternalError</code><message>the bucket is gone</message></error>`},
	} {
		tk := task
		c.edit(&tk)
		var b bytes.Buffer
		if err := encodeResponse(&b, "CancelBundleTaskResponse", &bundleTaskResponse{Task: bundleTaskOf(tk)}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b.Bytes(), []byte(c.want)) {
			t.Errorf("%s: %s lacks %s", c.what, b.String(), c.want)
		}
		if c.what == "running" && bytes.Contains(b.Bytes(), []byte("<error>")) {
			t.Errorf("%s: an error element: %s", c.what, b.String())
		}
	}
}
