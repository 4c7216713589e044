// Package exports is ExportImage: an image's root disk written, in RAW,
// dynamic VHD or stream-optimized VMDK, into an S3 bucket of the same
// endpoint as one object, by a durable task the service's worker runs
// (docs/EXPORT.md). It stands above rules/images (launch permissions,
// Allowed AMIs), rules/ebs (the snapshot's blocks and their key) and
// rules/objects (the bucket and its multipart upload).
package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/param"
)

// Config is what Exports is built over.
type Config struct {
	Store   metadata.Store
	Images  *images.Registry
	EBS     *ebs.Volumes
	Objects *objects.Buckets
	Tokens  *pagetoken.Codec
	Clock   openami.Clock
	// Kick asks the worker to look for work now (after a new task or a
	// cancel); nil for none.
	Kick func()
	// Worker returns the context background work runs in and the logger
	// it reports to.
	Worker func() (context.Context, *slog.Logger)
	// Lease, when not nil, runs a task's run under the task's lease, so
	// that of several nodes one runs it (service/leases.go): it calls fn
	// with a context that carries the lease, unless another node holds
	// it (false).
	Lease func(ctx context.Context, taskID string, fn func(context.Context) error) (bool, error)
	// PartSize is the size of the multipart upload's parts (and of the
	// one buffer a running export holds); 0 means DefaultPartSize.
	PartSize int64
}

// DefaultPartSize is the part size of an export's upload: 16 MiB, so a
// running export holds about that much memory whatever the disk's size
// (up to 156 GiB; past it, parts grow to stay within S3's 10,000).
const DefaultPartSize = 16 << 20

// Exports runs ExportImage tasks.
type Exports struct {
	store    metadata.Store
	images   *images.Registry
	ebs      *ebs.Volumes
	objects  *objects.Buckets
	tokens   *pagetoken.Codec
	now      openami.Clock
	kick     func()
	worker   func() (context.Context, *slog.Logger)
	lease    func(ctx context.Context, taskID string, fn func(context.Context) error) (bool, error)
	partSize int64

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // tasks this process runs
	wg      sync.WaitGroup
}

// New returns Exports over cfg.
func New(cfg Config) *Exports {
	e := &Exports{store: cfg.Store, images: cfg.Images, ebs: cfg.EBS, objects: cfg.Objects, tokens: cfg.Tokens, now: cfg.Clock,
		kick: cfg.Kick, worker: cfg.Worker, lease: cfg.Lease, partSize: cfg.PartSize, running: map[string]context.CancelCauseFunc{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.kick == nil {
		e.kick = func() {}
	}
	if e.worker == nil {
		e.worker = func() (context.Context, *slog.Logger) { return context.Background(), slog.Default() }
	}
	if e.partSize == 0 {
		e.partSize = DefaultPartSize
	}
	return e
}

// ExportImageInput is ExportImage's request in the rules' terms.
type ExportImageInput struct {
	ImageID string
	// DiskImageFormat is VMDK, RAW or VHD (any case).
	DiskImageFormat string
	S3Bucket        string
	S3Prefix        string
	// RoleName is kept and returned, never assumed: the object is
	// written with the caller's own access to the bucket.
	RoleName    string
	Description string
	ClientToken string
	Tags        []openami.Tag
}

// formats maps DiskImageFormat's values to openami's formats.
var formats = map[string]string{"VMDK": openami.DiskFormatVMDK, "RAW": openami.DiskFormatRAW, "VHD": openami.DiskFormatVHD}

// ExportImage records a task that writes the image's root disk in the
// format to S3Bucket under S3Prefix + task id + "." + format, as AWS
// names it, and returns it; the worker runs it. The caller must be able to
// launch the image (its own, public or shared with it, and allowed by
// its Allowed AMIs: LaunchableImage), the image must be EBS-backed, an
// encrypted image may be exported only by its owner with use of its key,
// and the bucket must exist in the region and take the caller's writes
// (an upload is started now, so that a refusal comes now). A refusal
// changes nothing.
func (s *Exports) ExportImage(ctx context.Context, p openami.Principal, in ExportImageInput) (openami.ExportTask, error) {
	if in.ImageID == "" {
		return openami.ExportTask{}, param.Missing("ImageID")
	}
	format, ok := formats[strings.ToUpper(in.DiskImageFormat)]
	if !ok {
		if in.DiskImageFormat == "" {
			return openami.ExportTask{}, param.Missing("DiskImageFormat")
		}
		return openami.ExportTask{}, param.OneOf("DiskImageFormat", in.DiskImageFormat, "VMDK", "RAW", "VHD")
	}
	if in.S3Bucket == "" {
		return openami.ExportTask{}, param.Missing("S3Bucket")
	}
	if in.ClientToken != "" {
		if t, ok, err := s.byToken(ctx, p, in.ClientToken); err != nil || ok {
			return t, err
		}
	}
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		_, _, err := s.exportable(tx, p, in.ImageID)
		return err
	})
	if err != nil {
		return openami.ExportTask{}, err
	}
	if missing, err := s.bucketMissing(ctx, p, in.S3Bucket); missing {
		return openami.ExportTask{}, param.Invalid("S3Bucket", in.S3Bucket, "The bucket does not exist in region %s.", p.Region)
	} else if err != nil {
		return openami.ExportTask{}, err
	}
	t := openami.ExportTask{ID: ids.New("export-ami"), Region: p.Region, AccountID: p.AccountID, ImageID: in.ImageID, Format: format,
		Bucket: in.S3Bucket, Prefix: in.S3Prefix, RoleName: in.RoleName, Description: in.Description, ClientToken: in.ClientToken,
		Tags: in.Tags, State: openami.ExportActive, StatusMessage: "pending", CreatedAt: s.now().UTC()}
	t.Key = t.Prefix + t.ID + "." + t.Format
	up, err := s.objects.CreateUpload(ctx, objects.As(p), t.Bucket, t.Key, openami.ObjectHeaders{}, objects.ACLInput{}, openami.Checksum{})
	if err != nil {
		return openami.ExportTask{}, err
	}
	t.UploadID = up.ID
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		// Checked again in the transaction that records the task.
		if _, _, err := s.exportable(tx, p, in.ImageID); err != nil {
			return err
		}
		rec := t
		rec.Tags = nil // in the store's Tags (tags.go)
		if err := tx.ExportTasks().Create(rec); err != nil {
			return err
		}
		if len(t.Tags) == 0 {
			return nil
		}
		return tx.Tags().Set(p.Region, p.AccountID, t.ID, openami.ResourceExportTask, t.Tags)
	})
	if err != nil {
		s.objects.AbortUpload(context.WithoutCancel(ctx), objects.As(p), t.Bucket, t.Key, t.UploadID)
		return openami.ExportTask{}, err
	}
	s.kick()
	return t, nil
}

// exportable returns, in tx, the image p may export and its root
// snapshot.
func (s *Exports) exportable(tx metadata.Tx, p openami.Principal, id string) (openami.Image, openami.Snapshot, error) {
	img, err := s.images.LaunchableImage(tx, p, id)
	if err != nil {
		return img, openami.Snapshot{}, err
	}
	snapID := rootSnapshot(img)
	if snapID == "" {
		return img, openami.Snapshot{}, openami.Errorf(openami.Unsupported, openami.ResourceImage,
			"The image %s is not EBS-backed: only an EBS-backed image's root volume can be exported.", id)
	}
	snap, err := s.ebs.Snapshot(tx, img.Region, snapID)
	if err != nil {
		return img, snap, fmt.Errorf("image %s: root snapshot %s: %w", id, snapID, err)
	}
	if snap.Encrypted {
		if img.AccountID != p.AccountID {
			return img, snap, openami.Errorf(openami.Unsupported, openami.ResourceImage,
				"The image %s is encrypted: only its owner may export it.", id)
		}
		if err := s.ebs.CheckKeyUse(tx, p, "ImageID", snap.KmsKeyID); err != nil {
			return img, snap, err
		}
	}
	return img, snap, nil
}

// rootSnapshot returns the snapshot of an image's root device, "" for
// none.
func rootSnapshot(img openami.Image) string {
	if img.RootDeviceType != "ebs" {
		return ""
	}
	for _, m := range img.BlockDeviceMappings {
		if m.DeviceName == img.RootDeviceName && m.Ebs != nil {
			return m.Ebs.SnapshotID
		}
	}
	return ""
}

// byToken returns the caller's task made with a client token, if any.
func (s *Exports) byToken(ctx context.Context, p openami.Principal, token string) (openami.ExportTask, bool, error) {
	var found openami.ExportTask
	var ok bool
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		list, err := tx.ExportTasks().List(p.Region, p.AccountID, "", 0)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(t openami.ExportTask) bool { return t.ClientToken == token && t.Kind == openami.ExportKindExport })
		if ok = i >= 0; !ok {
			return nil
		}
		one := list[i : i+1]
		err = withTags(tx, p, one)
		found = one[0]
		return err
	})
	return found, ok, err
}

// The attributes of a task that DescribeExportImageTasks' filters test.
const (
	AttrTaskState filter.Attr = "taskState"
)

// TaskAttrs are the attributes DescribeExportImageTasks filters by
// (besides tags). Read-only.
var TaskAttrs = []filter.Attr{AttrTaskState}

var bounds = describe.Bounds{Min: 1, Max: 500}

// DescribeExportImageTasks returns a page of the caller's export tasks in
// the region, all or those named (an unknown one is NotFound), that match
// the filters.
func (s *Exports) DescribeExportImageTasks(ctx context.Context, p openami.Principal, idList []string, filters []filter.Filter, pg describe.Page) ([]openami.ExportTask, string, error) {
	fs, err := filter.Compile(filters, TaskAttrs...)
	if err != nil {
		return nil, "", err
	}
	if err := describe.CheckIDs(openami.ResourceExportTask, idList, pg); err != nil {
		return nil, "", err
	}
	var all []openami.ExportTask
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		all, err = tx.ExportTasks().List(p.Region, p.AccountID, "", 0)
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(t openami.ExportTask) bool { return t.Kind != openami.ExportKindExport })
		return withTags(tx, p, all)
	})
	if err != nil {
		return nil, "", err
	}
	id := func(t openami.ExportTask) string { return t.ID }
	if len(idList) > 0 {
		found := slices.DeleteFunc(slices.Clone(all), func(t openami.ExportTask) bool { return !slices.Contains(idList, t.ID) })
		if missing := describe.Missing(idList, found, id); len(missing) > 0 {
			return nil, "", openami.Errorf(openami.NotFound, openami.ResourceExportTask, "%s",
				describe.NotFound{One: "The export task ID '%s' does not exist", Many: "The export task IDs '%s' do not exist"}.Sentence(missing))
		}
	}
	scope := describe.Scope("DescribeExportImageTasks", p, filters, strings.Join(idList, ","))
	return describe.List(s.tokens, scope, pg, bounds, describe.Slice(all, idList, id), id, func(t openami.ExportTask) bool {
		return fs.Match(func(a filter.Attr) []string {
			if a == AttrTaskState {
				return []string{string(t.State)}
			}
			return nil
		}, tagset.Map(t.Tags))
	})
}

func taskNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceExportTask, "The export task ID '%s' does not exist", id)
}

// CancelExportTask cancels an active export task of the caller: it turns
// deleting, the worker stops writing, aborts the upload (no object is
// left) and marks it deleted. A task no longer active is IncorrectState.
func (s *Exports) CancelExportTask(ctx context.Context, p openami.Principal, id string) error {
	if !ids.Valid("export-ami", id) {
		return taskNotFound(id)
	}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		t, err := tx.ExportTasks().Get(p.Region, id)
		if errors.Is(err, openami.ErrNotFound) || err == nil && (t.AccountID != p.AccountID || t.Kind != openami.ExportKindExport) {
			return taskNotFound(id)
		}
		if err != nil {
			return err
		}
		if t.State != openami.ExportActive {
			return openami.Errorf(openami.IncorrectState, openami.ResourceExportTask,
				"The export task %s is %s and cannot be cancelled.", id, t.State)
		}
		t.State, t.StatusMessage = openami.ExportDeleting, "cancelling"
		return tx.ExportTasks().Update(t)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if cancel := s.running[id]; cancel != nil {
		cancel(errCancelled)
	}
	s.mu.Unlock()
	s.kick()
	return nil
}
