package imports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"golang.org/x/sync/errgroup"
)

// taskError is a failure of the task's input (a corrupt disk, an
// unsupported format): the task ends deleted with it as StatusMessage.
type taskError struct{ msg string }

func (e *taskError) Error() string { return e.msg }

func clientError(format string, a ...any) error {
	return &taskError{"ClientError: " + fmt.Sprintf(format, a...)}
}

// Pending returns the active tasks of every region and account, for the
// worker to run (a restart resumes them).
func (s *Imports) Pending(ctx context.Context, regions []string) ([]openami.ImportTask, error) {
	var out []openami.ImportTask
	err := s.cfg.Store.View(ctx, func(tx metadata.Tx) error {
		out = nil
		for _, r := range regions {
			list, err := tx.ImportTasks().List(r, "", "", 0)
			if err != nil {
				return err
			}
			for _, t := range list {
				if t.Status == openami.ImportActive || t.Status == openami.ImportDeleting {
					out = append(out, t)
				}
			}
		}
		return nil
	})
	return out, err
}

// Run runs a task to its end: completed, or deleted with why. A task a
// restart interrupted starts over: what its last run made is deleted
// first. A deleting task (cancelled while nobody ran it) is cleaned up.
// Run returns an error only when it could not record the outcome.
func (s *Imports) Run(ctx context.Context, region, id string) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s.mu.Lock()
	if s.running[id] != nil {
		s.mu.Unlock()
		return nil
	}
	s.running[id] = stop
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()

	t, err := s.get(ctx, region, id)
	if err != nil {
		return err
	}
	switch t.Status {
	case openami.ImportDeleting:
		return s.cleanUp(context.WithoutCancel(ctx), region, id, t.StatusMessage)
	case openami.ImportActive:
	default:
		return nil
	}
	if err := s.discard(ctx, t); err != nil { // a previous run's leftovers
		return err
	}
	err = s.convert(ctx, t)
	bg := context.WithoutCancel(ctx)
	var te *taskError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		// Cancelled (the task is deleting) or the server stops (it stays
		// active and starts over on the next start) — whatever the error
		// says: a qemu program killed by the cancellation looks like a
		// disk it could not read.
		if cur, gerr := s.get(bg, region, id); gerr == nil && cur.Status == openami.ImportDeleting {
			return s.cleanUp(bg, region, id, cur.StatusMessage)
		}
		return ctx.Err()
	case errors.As(err, &te):
		return s.fail(bg, region, id, te.msg)
	default:
		return s.fail(bg, region, id, "ServerError: "+err.Error())
	}
}

func (s *Imports) get(ctx context.Context, region, id string) (openami.ImportTask, error) {
	var t openami.ImportTask
	err := s.cfg.Store.View(ctx, func(tx metadata.Tx) error {
		var err error
		t, err = tx.ImportTasks().Get(region, id)
		return err
	})
	return t, err
}

// update changes an active task with fn; errTaskEnded if it is no longer
// active (cancelled).
func (s *Imports) update(ctx context.Context, region, id string, fn func(*openami.ImportTask)) (openami.ImportTask, error) {
	var t openami.ImportTask
	err := s.cfg.Store.Update(ctx, func(tx metadata.Tx) error {
		var err error
		if t, err = tx.ImportTasks().Get(region, id); err != nil {
			return err
		}
		if t.Status != openami.ImportActive {
			return errTaskEnded
		}
		fn(&t)
		t.UpdatedAt = s.now().UTC()
		return tx.ImportTasks().Update(t)
	})
	return t, err
}

var errTaskEnded = errors.New("imports: the task is no longer active")

// stage moves an active task to a stage and progress.
func (s *Imports) stage(ctx context.Context, t *openami.ImportTask, msg string, progress int) error {
	nt, err := s.update(ctx, t.Region, t.ID, func(u *openami.ImportTask) {
		u.StatusMessage, u.Progress = msg, strconv.Itoa(progress)
		u.Disks = t.Disks
	})
	if errors.Is(err, errTaskEnded) {
		return context.Canceled
	}
	if err == nil {
		*t = nt
		if s.afterStage != nil {
			s.afterStage(nt)
		}
	}
	return err
}

// fail ends a task deleted with msg, after deleting what it made.
func (s *Imports) fail(ctx context.Context, region, id, msg string) error {
	_, err := s.update(ctx, region, id, func(u *openami.ImportTask) { u.Status, u.StatusMessage = openami.ImportDeleting, msg })
	if errors.Is(err, errTaskEnded) {
		err = nil // cancelled meanwhile: cleanUp below ends it all the same
	}
	if err != nil {
		return err
	}
	return s.cleanUp(ctx, region, id, "")
}

// cleanUp deletes what a deleting task made and marks it deleted, with
// msg as its StatusMessage ("": keep the one it has).
func (s *Imports) cleanUp(ctx context.Context, region, id, msg string) error {
	t, err := s.get(ctx, region, id)
	if err != nil {
		return err
	}
	if err := s.discard(ctx, t); err != nil {
		return err
	}
	return s.cfg.Store.Update(ctx, func(tx metadata.Tx) error {
		t, err := tx.ImportTasks().Get(region, id)
		if err != nil {
			return err
		}
		t.Status, t.Progress, t.ImageID, t.UpdatedAt = openami.ImportDeleted, "", "", s.now().UTC()
		if msg != "" {
			t.StatusMessage = msg
		}
		for i := range t.Disks {
			t.Disks[i].SnapshotID = ""
		}
		return tx.ImportTasks().Update(t)
	})
}

// discard deletes the image and snapshots a task recorded, if they are
// still there, and forgets them.
func (s *Imports) discard(ctx context.Context, t openami.ImportTask) error {
	if t.ImageID != "" {
		if err := func() error { _, err := s.cfg.Images.DeregisterImage(ctx, t.Principal, t.ImageID, false); return err }(); err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
	}
	for _, d := range t.Disks {
		if d.SnapshotID == "" {
			continue
		}
		if err := s.cfg.EBS.DeleteSnapshot(ctx, t.Principal, d.SnapshotID); err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
	}
	return nil
}

// convert runs the stages of an active task.
func (s *Imports) convert(ctx context.Context, t openami.ImportTask) error {
	if s.cfg.TempDir != "" {
		if err := os.MkdirAll(s.cfg.TempDir, 0o700); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp(s.cfg.TempDir, "import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var inPlace []*os.File // objects read in place (fetch), open until the end
	defer func() {
		for _, f := range inPlace {
			f.Close()
		}
	}()
	if err := s.stage(ctx, &t, openami.ImportValidating, 0); err != nil {
		return err
	}
	// An OVA's disks become disks of the task when it is opened; a
	// previous run's are dropped (their snapshots are gone: discard).
	t.Disks = slices.DeleteFunc(t.Disks, func(d openami.ImportDisk) bool { return d.OVAIndex > 0 })
	n := len(t.Disks)
	for c, i := 0, 0; c < n; c, i = c+1, i+1 {
		// Each container's share of the progress (an OVA's split among its
		// disks): the first tenth download and validation, the rest the
		// blocks written.
		base, share := 100*c/n, 100/n
		files, err := s.fetch(ctx, &t, i, dir, &inPlace)
		if err != nil {
			return err
		}
		for k := 1; k < len(files); k++ {
			d := t.Disks[i]
			d.OVAIndex, d.Description, d.DeviceName, d.SnapshotID = k, fmt.Sprintf("disk %d of %s", k+1, d.Key), "", ""
			t.Disks = slices.Insert(t.Disks, i+k, d)
		}
		for k, file := range files {
			b, sh := base+share*k/len(files), share/len(files)
			if err := s.importDisk(ctx, &t, i+k, file, b, sh); err != nil {
				return err
			}
		}
		i += len(files) - 1
	}
	if t.Kind == openami.ImportImageTask {
		if err := s.stage(ctx, &t, openami.ImportPreparing, 99); err != nil {
			return err
		}
		imageID, err := s.register(ctx, t)
		if err != nil {
			return err
		}
		if _, err := s.update(ctx, t.Region, t.ID, func(u *openami.ImportTask) { u.ImageID = imageID }); err != nil {
			s.cfg.Images.DeregisterImage(context.WithoutCancel(ctx), t.Principal, imageID, false)
			if errors.Is(err, errTaskEnded) {
				return context.Canceled
			}
			return err
		}
	}
	_, err = s.update(ctx, t.Region, t.ID, func(u *openami.ImportTask) {
		u.Status, u.StatusMessage, u.Progress = openami.ImportCompleted, "", ""
	})
	if errors.Is(err, errTaskEnded) {
		return context.Canceled
	}
	return err
}

// fetch returns the path of the file of the task's disk i, or the paths
// of its disks if it is an OVA (in the order its OVF lists them, the
// root first). An object that is one file of a directory blob store is
// read in place (objects.OpenFile): its path is then that of the open
// file, under /proc/self/fd, and the file is added to open, for the
// caller to close. Any other object is downloaded into dir.
func (s *Imports) fetch(ctx context.Context, t *openami.ImportTask, i int, dir string, open *[]*os.File) ([]string, error) {
	d := &t.Disks[i]
	src, size, err := s.openInPlace(ctx, t.Principal, d.Bucket, d.Key, open)
	if err != nil {
		return nil, err
	}
	if src == "" {
		src = filepath.Join(dir, "disk"+strconv.Itoa(i))
		if size, err = s.download(ctx, t.Principal, d.Bucket, d.Key, src); err != nil {
			return nil, err
		}
	}
	d.Size = size
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	format, err := detectFile(f, size)
	f.Close()
	if err != nil {
		return nil, clientError("Disk validation failed [%s]", err)
	}
	if format != FormatOVA {
		return []string{src}, nil
	}
	if t.Kind != openami.ImportImageTask {
		return nil, clientError("Disk validation failed [an OVA is imported by ImportImage]")
	}
	files, err := extractOVA(src, dir)
	removeCopy(src) // its space is its disks' now
	if err != nil {
		return nil, clientError("Disk validation failed [%s]", err)
	}
	if len(t.Disks)+len(files)-1 > maxDisks {
		return nil, clientError("Disk validation failed [the OVA holds %d disks: at most %d disks are imported at once]", len(files), maxDisks)
	}
	return files, nil
}

// importDisk checks a disk file and writes it into the snapshot of the
// task's disk i.
func (s *Imports) importDisk(ctx context.Context, t *openami.ImportTask, i int, src string, base, share int) error {
	defer removeCopy(src) // after qemu-nbd is gone (disk.close, below)
	d := &t.Disks[i]
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	format, err := detectFile(f, st.Size())
	f.Close()
	switch {
	case err != nil:
		return clientError("Disk validation failed [%s]", err)
	case format == FormatOVA:
		return clientError("Disk validation failed [a disk of the OVA is not a disk image]")
	}
	if d.OVAIndex > 0 {
		d.Size = st.Size()
	}
	d.Detected = format
	info, err := s.qemuInfo(ctx, src, format)
	if err != nil {
		return clientError("Disk validation failed [%s]", err)
	}
	d.VirtualSize = info.VirtualSize
	disk, err := s.openSource(ctx, src, format, info.VirtualSize)
	if err != nil {
		return err
	}
	defer disk.close()
	if err := s.stage(ctx, t, openami.ImportValidated, base+share/10); err != nil {
		return err
	}
	if err := s.stage(ctx, t, openami.ImportConverting, base+share/10); err != nil {
		return err
	}
	if t.Kind == openami.ImportImageTask && i == 0 {
		if err := checkBootable(disk); err != nil {
			return err
		}
	}
	return s.writeSnapshot(ctx, t, i, disk, base+share/10, share-share/10)
}

// inPlacePrefix begins the path of an object read in place.
const inPlacePrefix = "/proc/self/fd/"

// openInPlace opens an object to be read in place, if it is one file
// (objects.OpenFile), and returns the path that names it, its size, and
// adds the file to open; "" if it is not one file. When openami runs as
// root the qemu programs run as nobody, who cannot open the store's
// owner-only file: they then read it over NBD (Config.ServeFile,
// openDisk), and without ServeFile the object is downloaded.
func (s *Imports) openInPlace(ctx context.Context, p openami.Principal, bucket, key string, open *[]*os.File) (string, int64, error) {
	if unprivileged() != nil && s.cfg.ServeFile == nil {
		return "", 0, nil
	}
	f, o, err := s.cfg.Objects.OpenFile(ctx, objects.As(p), bucket, key)
	if err != nil {
		if openami.ClassOf(err) != openami.Internal {
			return "", 0, clientError("Unable to read s3://%s/%s: %s", bucket, key, err)
		}
		return "", 0, err
	}
	if f == nil {
		return "", 0, nil
	}
	*open = append(*open, f)
	return inPlacePrefix + strconv.Itoa(int(f.Fd())), o.Size, nil
}

// removeCopy removes a disk file the task wrote, not an object read in
// place.
func removeCopy(path string) {
	if !strings.HasPrefix(path, inPlacePrefix) {
		os.Remove(path)
	}
}

// download copies an object to a file, as the task's caller reads it.
func (s *Imports) download(ctx context.Context, p openami.Principal, bucket, key, path string) (int64, error) {
	r, _, err := s.cfg.Objects.Open(ctx, objects.As(p), bucket, key)
	if err != nil {
		if openami.ClassOf(err) != openami.Internal {
			return 0, clientError("Unable to read s3://%s/%s: %s", bucket, key, err)
		}
		return 0, err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return 0, err
	}
	return n, f.Close()
}

// checkBootable checks that a disk's first sectors hold a partition table.
func checkBootable(disk *diskSource) error {
	first := make([]byte, min(1024, disk.size))
	n, err := disk.ReadAt(first, 0)
	if err != nil && err != io.EOF {
		return readError(err)
	}
	if !bootable(first[:n]) {
		return clientError("Unsupported kernel version or no bootable partition table (MBR or GPT) on the first disk")
	}
	return nil
}

// writeSnapshot writes a disk into a new snapshot through the EBS
// direct API's rules, one block at a time: only the blocks its data
// extents touch are read, and all-zero blocks are not written, so
// unallocated and zero ranges cost nothing.
func (s *Imports) writeSnapshot(ctx context.Context, t *openami.ImportTask, i int, disk *diskSource, base, share int) error {
	d := &t.Disks[i]
	gib := (d.VirtualSize + 1<<30 - 1) >> 30
	snap, err := s.cfg.EBS.StartSnapshot(ctx, t.Principal, ebs.StartSnapshotInput{
		VolumeSize: gib, Description: "Created by ImportSnapshot/ImportImage task " + t.ID,
		Encrypted: t.Encrypted, KmsKeyARN: t.KmsKeyARN, Timeout: 24 * 60 * 60 * 1e9,
	})
	if err != nil {
		if openami.ClassOf(err) == openami.Internal {
			return err
		}
		return clientError("%s", err)
	}
	d.SnapshotID = snap.ID
	if err := s.stage(ctx, t, openami.ImportConverting, base); err != nil {
		s.cfg.EBS.DeleteSnapshot(context.WithoutCancel(ctx), t.Principal, snap.ID)
		return err
	}
	// Blocks are written in batches (ebs.PutOwnSnapshotBlocks): a batch's
	// chunks are made durable together and recorded in one transaction,
	// where one block at a time cost two fsyncs and a transaction each
	// (docs/BENCHMARKS.md). putWorkers batches are written at once, so that
	// one's compression overlaps another's sync. Memory: putBatch buffers
	// per worker and one being read.
	g, gctx := errgroup.WithContext(ctx)
	blocks := make(chan putBlock)
	free := make(chan []byte, putWorkers*putBatch+1)
	for range putWorkers*putBatch + 1 {
		free <- make([]byte, openami.BlockSize)
	}
	var written atomic.Int64
	for range putWorkers {
		g.Go(func() error {
			batch := make([]ebs.OwnBlock, 0, putBatch)
			flush := func() error {
				err := s.cfg.EBS.PutOwnSnapshotBlocks(gctx, t.Principal, snap.ID, batch)
				for _, b := range batch {
					free <- b.Data
				}
				if err == nil {
					written.Add(int64(len(batch)))
				}
				batch = batch[:0]
				return err
			}
			for b := range blocks {
				batch = append(batch, ebs.OwnBlock{Index: b.index, Data: b.data, Sum: sha256.Sum256(b.data)})
				if len(batch) == putBatch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		})
	}
	g.Go(func() error {
		defer close(blocks)
		var total, done int64
		for _, e := range disk.extents {
			total += e.length
		}
		lastPct, next := -1, int64(0) // next: the first block not yet read
		for _, e := range disk.extents {
			for idx := max(e.start/openami.BlockSize, next); idx*openami.BlockSize < min(e.start+e.length, disk.size); idx++ {
				next = idx + 1
				off := idx * openami.BlockSize
				var buf []byte
				select {
				case buf = <-free:
				case <-gctx.Done():
					return gctx.Err()
				}
				n, err := disk.ReadAt(buf[:min(openami.BlockSize, disk.size-off)], off)
				if err != nil && err != io.EOF {
					if gctx.Err() != nil {
						return gctx.Err()
					}
					return readError(err)
				}
				clear(buf[n:])
				if allZero(buf) {
					free <- buf
					continue
				}
				select {
				case blocks <- putBlock{idx, buf}:
				case <-gctx.Done():
					return gctx.Err()
				}
				in := min(off+openami.BlockSize, e.start+e.length) - e.start // e's bytes read so far
				if pct := base + int(int64(share)*(done+in)/max(total, 1)); pct != lastPct && pct < 100 {
					lastPct = pct
					if err := s.stage(gctx, t, openami.ImportConverting, pct); err != nil {
						return err
					}
				}
			}
			done += e.length
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if _, err := s.cfg.EBS.CompleteSnapshot(ctx, t.Principal, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: written.Load()}); err != nil {
		return err
	}
	return s.cfg.EBS.FinishSnapshot(ctx, t.Region, snap.ID)
}

// putWorkers and putBatch shape an import's block writes: putWorkers
// writers, each storing putBatch blocks (512 KiB each) at a time.
const (
	putWorkers = 4
	putBatch   = 8
)

// readError is the task's failure when qemu cannot read a disk it
// validated (a corrupt table or compressed cluster).
func readError(err error) error {
	return clientError("Disk validation failed [the disk is corrupt or truncated: %s]", err)
}

// putBlock is a block on its way to PutSnapshotBlock.
type putBlock struct {
	index int64
	data  []byte
}

var zeroBlock = make([]byte, openami.BlockSize)

func allZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }

// register registers the AMI of an ImportImage task over its snapshots:
// the first disk is the root, /dev/sda1, the others /dev/sdb, /dev/sdc...
// unless the request named their devices.
func (s *Imports) register(ctx context.Context, t openami.ImportTask) (string, error) {
	var bdms []openami.BlockDeviceMapping
	for i, d := range t.Disks {
		dev := d.DeviceName // as the request named it, if it did
		switch {
		case dev != "":
		case i == 0:
			dev = "/dev/sda1"
		default:
			dev = "/dev/sd" + string(rune('a'+i))
		}
		bdms = append(bdms, openami.BlockDeviceMapping{DeviceName: dev, Ebs: &openami.EbsBlockDevice{
			SnapshotID: d.SnapshotID, VolumeSize: (d.VirtualSize + 1<<30 - 1) >> 30, DeleteOnTermination: true, VolumeType: "gp3",
		}})
	}
	desc := t.Description
	if desc == "" {
		desc = "AMI created by import task " + t.ID
	}
	id, err := s.cfg.Images.RegisterImage(ctx, t.Principal, images.RegisterImageInput{
		Name: t.ID, Description: desc, Architecture: t.Architecture, RootDeviceName: bdms[0].DeviceName,
		VirtualizationType: "hvm", BlockDeviceMappings: bdms, BootMode: t.BootMode, EnaSupport: true,
	})
	if err != nil && openami.ClassOf(err) != openami.Internal {
		return "", clientError("%s", err)
	}
	return id, err
}
