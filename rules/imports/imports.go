// Package imports owns ImportImage and ImportSnapshot tasks: it records
// them (metadata role ImportTasks), converts each disk file from an S3
// object into an EBS snapshot with qemu-img (docs/IMPORT.md), and
// registers the AMI of an ImportImage task over its snapshots. The
// service's worker runs the tasks (Run), one at a time.
package imports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/param"
)

// Config configures Imports.
type Config struct {
	Store   metadata.Store
	EBS     *ebs.Volumes
	Images  *images.Registry
	Objects *objects.Buckets
	Tokens  *pagetoken.Codec
	// TempDir holds the disk files while they convert ("" for the
	// system's): up to the file's size plus its data, per running task.
	TempDir string
	// QemuImg and QemuNBD are the qemu-img and qemu-nbd binaries (""
	// for the ones on PATH).
	QemuImg string
	QemuNBD string
	// Kick tells the worker a task is waiting (nil: nothing).
	Kick func()
	// ServeFile, if set, serves f read-only as an NBD export (whatever
	// name the client asks for) on l until ctx is done, then closes l;
	// cmd/openami joins it to package nbd. When openami runs as root the
	// qemu programs run as nobody and cannot open the blob store's
	// owner-only files, so an object read in place reaches them through
	// it; without it such an object is downloaded first.
	ServeFile func(ctx context.Context, f *os.File, l net.Listener) error
	// Clock defaults to time.Now.
	Clock openami.Clock
}

// Imports implements the import tasks.
type Imports struct {
	cfg Config
	now openami.Clock

	mu      sync.Mutex
	running map[string]context.CancelFunc // by task id

	// afterStage, if set (tests), is called after each recorded stage.
	afterStage func(openami.ImportTask)
}

// New returns Imports built from cfg.
func New(cfg Config) *Imports {
	if cfg.QemuImg == "" {
		cfg.QemuImg = "qemu-img"
	}
	if cfg.QemuNBD == "" {
		cfg.QemuNBD = "qemu-nbd"
	}
	if cfg.Kick == nil {
		cfg.Kick = func() {}
	}
	s := &Imports{cfg: cfg, now: cfg.Clock, running: map[string]context.CancelFunc{}}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// maxDisks is how many disks one ImportImage makes, an OVA's included
// (the devices /dev/sda1, /dev/sdb ... /dev/sdu).
const maxDisks = 21

// DiskContainer is one disk of a request: an object named by S3Bucket and
// S3Key, or by Url (s3://bucket/key, or an http(s) URL of the openami S3
// endpoint, path-style or virtual-hosted-style).
type DiskContainer struct {
	Description string
	Format      string
	Bucket      string
	Key         string
	URL         string
	DeviceName  string
}

// ImportSnapshotInput are ImportSnapshot's parameters.
type ImportSnapshotInput struct {
	Description string
	Disk        DiskContainer
	Encrypted   bool
	KmsKeyID    string
	Tags        []openami.Tag
	// ClientToken makes the request idempotent: the same token with the
	// same request returns the task it made, with another request
	// IdempotentParameterMismatch (Duplicate, ReasonTokenReused).
	ClientToken string
}

// ImportImageInput are ImportImage's parameters.
type ImportImageInput struct {
	Description  string
	Disks        []DiskContainer
	Architecture string
	Platform     string
	BootMode     string
	LicenseType  string
	Encrypted    bool
	KmsKeyID     string
	Tags         []openami.Tag
	ClientToken  string // as ImportSnapshotInput's
}

// disk checks a container and returns the disk it names.
func disk(field string, c DiskContainer) (openami.ImportDisk, error) {
	f, err := checkFormat(c.Format)
	if err != nil && strings.ToUpper(c.Format) != FormatOVA {
		return openami.ImportDisk{}, openami.FieldErrorf(openami.InvalidParameter, field+".Format", "%s", err.Error())
	}
	if f == "" {
		f = strings.ToUpper(c.Format)
	}
	d := openami.ImportDisk{Bucket: c.Bucket, Key: c.Key, Format: f, DeviceName: c.DeviceName, Description: c.Description}
	if c.URL != "" && d.Bucket == "" {
		b, k, ok := parseURL(c.URL)
		if !ok {
			return d, openami.FieldErrorf(openami.InvalidParameter, field+".Url", "The URL %s does not name an object of this endpoint's S3 (s3://bucket/key or http(s)://host/bucket/key).", c.URL)
		}
		d.Bucket, d.Key = b, k
	}
	if d.Bucket == "" {
		return d, param.Missing(field + ".UserBucket.S3Bucket")
	}
	if d.Key == "" {
		return d, param.Missing(field + ".UserBucket.S3Key")
	}
	return d, nil
}

// parseURL splits s3://bucket/key, http(s)://host/bucket/key and
// http(s)://bucket.s3.host/key into a bucket and key.
func parseURL(raw string) (bucket, key string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", false
	}
	path := strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "s3":
		bucket, key = u.Host, path
	case "http", "https":
		if b, _, found := strings.Cut(u.Hostname(), ".s3."); found {
			bucket, key = b, path
		} else {
			bucket, key, _ = strings.Cut(path, "/")
		}
	default:
		return "", "", false
	}
	return bucket, key, bucket != "" && key != ""
}

// ImportSnapshot records an ImportSnapshot task and returns it, pending;
// the worker converts the disk.
func (s *Imports) ImportSnapshot(ctx context.Context, p openami.Principal, in ImportSnapshotInput) (openami.ImportTask, error) {
	d, err := disk("DiskContainer", in.Disk)
	if err != nil {
		return openami.ImportTask{}, err
	}
	if d.Format == FormatOVA {
		return openami.ImportTask{}, openami.FieldErrorf(openami.InvalidParameter, "DiskContainer.Format", "OVA is taken by ImportImage only.")
	}
	token := in.ClientToken
	in.ClientToken = ""
	if t, ok, err := s.byToken(ctx, p, openami.ImportSnapshotTask, token, in); err != nil || ok {
		return t, err
	}
	t := s.newTask(p, openami.ImportSnapshotTask, "import-snap", in.Description, in.Encrypted, in.KmsKeyID, in.Tags)
	t.Disks = []openami.ImportDisk{d}
	t.ClientToken, t.RequestHash = token, requestHash(in)
	return s.record(ctx, t)
}

// ImportImage records an ImportImage task and returns it, pending; the
// worker converts the disks and registers the AMI.
func (s *Imports) ImportImage(ctx context.Context, p openami.Principal, in ImportImageInput) (openami.ImportTask, error) {
	if len(in.Disks) == 0 {
		return openami.ImportTask{}, param.Missing("DiskContainer")
	}
	token := in.ClientToken
	in.ClientToken = ""
	if t, ok, err := s.byToken(ctx, p, openami.ImportImageTask, token, in); err != nil || ok {
		return t, err
	}
	if len(in.Disks) > maxDisks {
		return openami.ImportTask{}, openami.FieldErrorf(openami.InvalidParameter, "DiskContainer", "At most 21 disks may be imported at once.")
	}
	switch in.Architecture {
	case "", "x86_64", "arm64", "i386":
	default:
		return openami.ImportTask{}, openami.FieldErrorf(openami.InvalidParameter, "Architecture", "Invalid architecture %s (x86_64, arm64 or i386).", in.Architecture)
	}
	switch in.BootMode {
	case "", "legacy-bios", "uefi", "uefi-preferred":
	default:
		return openami.ImportTask{}, openami.FieldErrorf(openami.InvalidParameter, "BootMode", "Invalid boot mode %s.", in.BootMode)
	}
	t := s.newTask(p, openami.ImportImageTask, "import-ami", in.Description, in.Encrypted, in.KmsKeyID, in.Tags)
	t.Architecture, t.Platform, t.BootMode, t.LicenseType = in.Architecture, in.Platform, in.BootMode, in.LicenseType
	if t.Architecture == "" {
		t.Architecture = "x86_64"
	}
	if t.Platform == "" {
		t.Platform = "Linux"
	}
	if t.LicenseType == "" {
		t.LicenseType = "BYOL"
	}
	for i, c := range in.Disks {
		d, err := disk("DiskContainer."+strconv.Itoa(i+1), c)
		if err != nil {
			return openami.ImportTask{}, err
		}
		if d.Format == FormatOVA && len(in.Disks) > 1 {
			return openami.ImportTask{}, openami.FieldErrorf(openami.InvalidParameter, "DiskContainer", "An OVA is imported alone.")
		}
		t.Disks = append(t.Disks, d)
	}
	t.ClientToken, t.RequestHash = token, requestHash(in)
	return s.record(ctx, t)
}

func (s *Imports) newTask(p openami.Principal, kind openami.ImportKind, prefix, desc string, enc bool, key string, tags []openami.Tag) openami.ImportTask {
	now := s.now().UTC()
	return openami.ImportTask{ID: ids.New(prefix), Region: p.Region, AccountID: p.AccountID, Kind: kind,
		Status: openami.ImportActive, StatusMessage: openami.ImportPending, Progress: "0", Description: desc,
		Encrypted: enc, KmsKeyARN: key, Tags: tags, Principal: p, CreatedAt: now, UpdatedAt: now}
}

// record checks that the caller may read each disk's object, records the
// task and kicks the worker.
func (s *Imports) record(ctx context.Context, t openami.ImportTask) (openami.ImportTask, error) {
	again := false
	for _, d := range t.Disks {
		r, _, err := s.cfg.Objects.Open(ctx, objects.As(t.Principal), d.Bucket, d.Key)
		if err != nil {
			return openami.ImportTask{}, err
		}
		r.Close()
	}
	err := s.cfg.Store.Update(ctx, func(tx metadata.Tx) error {
		// The key is checked and resolved to its ARN now, so that a bad
		// one is the request's error; encryption by default applies.
		key, err := s.cfg.EBS.TargetKey(tx, t.Principal, ebs.Target{Encrypted: t.Encrypted, KmsKeyID: t.KmsKeyARN, Field: "KmsKeyId"}, "")
		if err != nil {
			return err
		}
		t.KmsKeyARN, t.Encrypted = key, key != ""
		if t.ClientToken != "" { // a request with the same token may have won the race
			if prev, ok, err := tokenTask(tx, t.Principal, t.Kind, t.ClientToken, t.RequestHash); err != nil || ok {
				t, again = prev, true
				return err
			}
		}
		return tx.ImportTasks().Put(t)
	})
	if err != nil {
		return openami.ImportTask{}, err
	}
	if !again {
		s.cfg.Kick()
	}
	return t, nil
}

// requestHash is a digest of a request without its client token.
func requestHash(in any) string {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err) // plain structs of strings, bools and slices
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// byToken returns the caller's task of kind made with token ("": none)
// for the same request in, or TokenReused if it was made for another.
func (s *Imports) byToken(ctx context.Context, p openami.Principal, kind openami.ImportKind, token string, in any) (openami.ImportTask, bool, error) {
	if token == "" {
		return openami.ImportTask{}, false, nil
	}
	var t openami.ImportTask
	var ok bool
	err := s.cfg.Store.View(ctx, func(tx metadata.Tx) (err error) {
		t, ok, err = tokenTask(tx, p, kind, token, requestHash(in))
		return err
	})
	return t, ok, err
}

// tokenTask finds the caller's task of kind made with token, and checks
// that it was made for the request whose digest is hash.
func tokenTask(tx metadata.Tx, p openami.Principal, kind openami.ImportKind, token, hash string) (openami.ImportTask, bool, error) {
	list, err := tx.ImportTasks().List(p.Region, p.AccountID, "", 0)
	if err != nil {
		return openami.ImportTask{}, false, err
	}
	for _, t := range list {
		if t.ClientToken != token || t.Kind != kind {
			continue
		}
		if t.RequestHash != hash {
			return openami.ImportTask{}, false, param.TokenReused(openami.ResourceImportTask, token)
		}
		return t, true, nil
	}
	return openami.ImportTask{}, false, nil
}

// DescribeInput selects tasks of one kind: by id, or every one of the
// caller's, a page at a time (MaxResults 0: every one), in any of States
// (the task-state filter; none: every state).
type DescribeInput struct {
	Kind       openami.ImportKind
	IDs        []string
	States     []string
	MaxResults int
	NextToken  string
}

// Describe returns the caller's tasks of a kind and the token of the next
// page ("" for none). An id that is not the caller's task of the kind is
// NotFound.
func (s *Imports) Describe(ctx context.Context, p openami.Principal, in DescribeInput) ([]openami.ImportTask, string, error) {
	scope := "import-tasks/" + string(in.Kind) + "/" + p.Region + "/" + p.AccountID
	var out []openami.ImportTask
	var next string
	err := s.cfg.Store.View(ctx, func(tx metadata.Tx) error {
		out, next = nil, ""
		if len(in.IDs) > 0 {
			for _, id := range in.IDs {
				t, err := tx.ImportTasks().Get(p.Region, id)
				if err != nil || t.AccountID != p.AccountID || t.Kind != in.Kind {
					return openami.Errorf(openami.NotFound, openami.ResourceImportTask, "The import task '%s' does not exist.", id)
				}
				if len(in.States) == 0 || slices.Contains(in.States, t.Status) {
					out = append(out, t)
				}
			}
			return nil
		}
		after := ""
		if in.NextToken != "" {
			raw, err := s.cfg.Tokens.Decode(scope, in.NextToken)
			if err != nil {
				return openami.FieldErrorf(openami.InvalidToken, "NextToken", "The page token is invalid.")
			}
			after = string(raw)
		}
		for {
			list, err := tx.ImportTasks().List(p.Region, p.AccountID, after, 100)
			if err != nil {
				return err
			}
			for _, t := range list {
				if t.Kind != in.Kind || (len(in.States) > 0 && !slices.Contains(in.States, t.Status)) {
					continue
				}
				if in.MaxResults > 0 && len(out) == in.MaxResults {
					next = s.cfg.Tokens.Encode(scope, []byte(out[len(out)-1].ID))
					return nil
				}
				out = append(out, t)
			}
			if len(list) < 100 {
				return nil
			}
			after = list[len(list)-1].ID
		}
	})
	return out, next, err
}

// Cancel cancels an active task of the caller: it turns deleting at once,
// and deleted when whatever it made (snapshots, an image) is gone. It
// returns the task's status before. A task that is not active is
// refused (Invalid).
func (s *Imports) Cancel(ctx context.Context, p openami.Principal, id string) (string, error) {
	var prev string
	err := s.cfg.Store.Update(ctx, func(tx metadata.Tx) error {
		t, err := tx.ImportTasks().Get(p.Region, id)
		if err != nil || t.AccountID != p.AccountID {
			return openami.Errorf(openami.NotFound, openami.ResourceImportTask, "The import task '%s' does not exist.", id)
		}
		prev = t.Status
		if t.Status != openami.ImportActive {
			return openami.FieldErrorf(openami.IncorrectState, "ImportTaskId", "The import task %s cannot be cancelled: it is %s.", id, t.Status)
		}
		t.Status, t.StatusMessage, t.UpdatedAt = openami.ImportDeleting, openami.ImportCancelled, s.now().UTC()
		return tx.ImportTasks().Update(t)
	})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	stop := s.running[id]
	s.mu.Unlock()
	if stop != nil {
		stop() // the run cleans up and marks the task deleted
		return prev, nil
	}
	return prev, s.cleanUp(ctx, p.Region, id, openami.ImportCancelled)
}
