package exports

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/objects"
)

// errCancelled is the cause of a running task's context when
// CancelExportTask stopped it.
var errCancelled = errors.New("exports: cancelled")

// Canceled is the StatusMessage of a cancelled task.
const Canceled = "Canceled by user"

// progressEvery is how many blocks a running export writes between two
// records of its progress (and checks for a cancel by another server).
const progressEvery = 64

// RunExports starts, in the background, every active task this process
// is not already running (new ones, and those a restart interrupted,
// which start over: their upload is aborted and begun again), and
// finishes cancelled ones. The worker calls it on each pass.
func (s *Exports) RunExports(ctx context.Context) error {
	var list []openami.ExportTask
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		list, err = tx.ExportTasks().Active()
		return err
	})
	if err != nil {
		return err
	}
	bg, log := s.worker()
	for _, t := range list {
		s.mu.Lock()
		if s.running[t.ID] != nil {
			s.mu.Unlock()
			continue
		}
		tctx, cancel := context.WithCancelCause(bg)
		s.running[t.ID] = cancel
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.running, t.ID)
				s.mu.Unlock()
				cancel(nil)
			}()
			run := func(ctx context.Context) error { return s.run(ctx, t) }
			var err error
			if s.lease != nil {
				_, err = s.lease(tctx, t.ID, run)
			} else {
				err = run(tctx)
			}
			if err != nil && bg.Err() == nil {
				log.Error("export image", "task", t.ID, "error", err)
			}
		}()
	}
	return nil
}

// Wait waits for the exports RunExports started.
func (s *Exports) Wait() { s.wg.Wait() }

// run runs one task to its end: completed, or deleted (cancelled or
// failed, its upload aborted). When the worker's context ends (a
// shutdown), it leaves the task active for the next start.
func (s *Exports) run(ctx context.Context, t openami.ExportTask) error {
	p := openami.Principal{AccountID: t.AccountID, Region: t.Region}
	// The listing RunExports read may be older than a run of this task
	// that just ended here: read it again.
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		t, err = tx.ExportTasks().Get(t.Region, t.ID)
		return err
	})
	switch {
	case err != nil:
		return err
	case t.State == openami.ExportDeleting:
		return s.finish(ctx, t, Canceled)
	case t.State != openami.ExportActive:
		return nil
	}
	if t.Kind == openami.ExportKindRestore {
		return s.runRestore(ctx, t)
	}
	c := objects.As(p)
	if t.UploadID == "" || t.Progress > 0 || t.StatusMessage != "pending" {
		// A run before this one wrote parts: start the upload over.
		if t.UploadID != "" {
			s.objects.AbortUpload(context.WithoutCancel(ctx), c, t.Bucket, t.Key, t.UploadID)
		}
		up, err := s.objects.CreateUpload(ctx, c, t.Bucket, t.Key, openami.ObjectHeaders{Tags: t.ObjectTags}, objects.ACLInput{}, openami.Checksum{})
		if err != nil {
			if ctx.Err() != nil {
				return s.stopped(ctx, t)
			}
			t.UploadID = ""
			return s.finish(ctx, t, fmt.Sprintf("The bucket %s cannot be written: %v", t.Bucket, err))
		}
		t.UploadID = up.ID
	}
	t.Progress, t.StatusMessage = 0, "converting"
	if t.Kind == openami.ExportKindStore {
		t.StatusMessage = "storing"
	}
	t, err = s.progress(ctx, t)
	if err != nil {
		return s.ended(ctx, t, err)
	}
	parts := &partWriter{ctx: ctx, s: s, c: c, t: t}
	if t.Kind == openami.ExportKindStore {
		parts.size = s.partSize
		err = s.runStore(ctx, t, parts)
	} else {
		err = s.runExport(ctx, t, parts)
	}
	if err == nil {
		err = parts.flush()
	} else {
		parts.wait() // no part lands after the upload is aborted
	}
	if err == nil {
		_, err = s.objects.CompleteUpload(ctx, c, t.Bucket, t.Key, t.UploadID, parts.done, nil)
	}
	if err != nil {
		return s.ended(ctx, t, err)
	}
	return s.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		cur.State, cur.StatusMessage, cur.Progress, cur.UploadID = openami.ExportCompleted, "", 100, ""
		return tx.ExportTasks().Update(cur)
	})
}

// runExport writes the disk file of t's image into its upload.
func (s *Exports) runExport(ctx context.Context, t openami.ExportTask, parts *partWriter) error {
	var (
		snap   openami.Snapshot
		blocks []metadata.BlockRef
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		img, err := s.images.ImageOf(tx, t.Region, t.ImageID)
		if err != nil {
			return err
		}
		id := rootSnapshot(img)
		if id == "" {
			return fmt.Errorf("image %s has no root snapshot", t.ImageID)
		}
		if snap, err = s.ebs.Snapshot(tx, t.Region, id); err != nil {
			return err
		}
		blocks, err = s.ebs.SnapshotBlocks(tx, snap)
		return err
	})
	if err != nil {
		return err
	}
	size := snap.VolumeSize << 30
	parts.size = s.partSizeFor(size)
	stored := make([]int64, len(blocks))
	for i, b := range blocks {
		stored[i] = b.Index
	}
	w, err := newDiskWriter(t.Format, parts, size, s.now(), stored)
	if err != nil {
		return err
	}
	total := max(int64(len(blocks)), 1)
	done := int64(0)
	err = s.ebs.EachBlock(ctx, snap, blocks, func(index int64, data []byte) error {
		if err := w.block(index, data); err != nil {
			return err
		}
		if done++; done%progressEvery == 0 {
			t.Progress = int(done * 99 / total)
			var err error
			t, err = s.progress(ctx, t)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return w.close()
}

// partSizeFor returns the part size of an export of a disk of size
// bytes: the configured one, or more for a disk so large that parts must
// grow to stay within 10,000 (whole MiB).
func (s *Exports) partSizeFor(size int64) int64 {
	if n := (size/9000 + 1<<20 - 1) &^ (1<<20 - 1); n > s.partSize {
		return n
	}
	return s.partSize
}

// progress records t's progress and message, unless the task is no
// longer active (cancelled, by this server or another): then it returns
// errCancelled.
func (s *Exports) progress(ctx context.Context, t openami.ExportTask) (openami.ExportTask, error) {
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		if cur.State != openami.ExportActive {
			return errCancelled
		}
		cur.Progress, cur.StatusMessage, cur.UploadID = t.Progress, t.StatusMessage, t.UploadID
		t = cur
		return tx.ExportTasks().Update(cur)
	})
	return t, err
}

// ended ends a run that failed with err: a cancel or a failure deletes
// the task (after aborting its upload); a shutdown leaves it active.
func (s *Exports) ended(ctx context.Context, t openami.ExportTask, err error) error {
	switch {
	case errors.Is(err, errCancelled) || errors.Is(context.Cause(ctx), errCancelled):
		return s.finish(ctx, t, Canceled)
	case ctx.Err() != nil:
		return s.stopped(ctx, t)
	}
	return s.finish(ctx, t, fmt.Sprintf("The task failed: %v", err))
}

// stopped records, on a shutdown, the upload the task had open, so that
// the next start aborts it.
func (s *Exports) stopped(ctx context.Context, t openami.ExportTask) error {
	if t.UploadID == "" {
		return nil
	}
	return s.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		cur.UploadID = t.UploadID
		if cur.StatusMessage == "pending" {
			cur.StatusMessage = "converting"
		}
		return tx.ExportTasks().Update(cur)
	})
}

// finish aborts t's upload, if any, and marks it deleted with message.
// It runs whether or not ctx was cancelled, but with ctx's values: a
// run under a lease (Config.Lease) ends the task only while it holds it.
func (s *Exports) finish(ctx context.Context, t openami.ExportTask, message string) error {
	ctx = context.WithoutCancel(ctx)
	if t.UploadID != "" {
		err := s.objects.AbortUpload(ctx, objects.As(openami.Principal{AccountID: t.AccountID, Region: t.Region}), t.Bucket, t.Key, t.UploadID)
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return fmt.Errorf("abort the upload of %s: %w", t.ID, err)
		}
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		if cur.State == openami.ExportDeleting {
			message = Canceled
		}
		if cur.Kind == openami.ExportKindRestore {
			if err := s.failSnapshotsIn(tx, cur, message); err != nil {
				return err
			}
		}
		cur.State, cur.StatusMessage, cur.UploadID = openami.ExportDeleted, message, ""
		return tx.ExportTasks().Update(cur)
	})
}

// partWriter cuts the stream of a disk file into the parts of t's
// multipart upload. A full part uploads in the background while the next
// one fills (the export's compression overlaps its upload), one at a
// time: it holds two parts in memory.
type partWriter struct {
	ctx        context.Context
	s          *Exports
	c          objects.Caller
	t          openami.ExportTask
	size       int64
	buf, spare *bytes.Buffer
	sent       int             // parts sent (uploaded or in flight)
	pending    chan partResult // the upload in flight; nil if none
	done       []objects.CompletedPart
}

type partResult struct {
	part objects.CompletedPart
	err  error
}

func (w *partWriter) Write(p []byte) (int, error) {
	if w.buf == nil {
		w.buf, w.spare = new(bytes.Buffer), new(bytes.Buffer)
	}
	n := len(p)
	for len(p) > 0 {
		room := int(w.size) - w.buf.Len()
		k := min(room, len(p))
		w.buf.Write(p[:k])
		p = p[k:]
		if w.buf.Len() == int(w.size) {
			if err := w.send(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// send starts uploading what is buffered as the next part, once the
// previous part's upload has ended.
func (w *partWriter) send() error {
	if err := w.wait(); err != nil {
		return err
	}
	if w.buf == nil {
		w.buf, w.spare = new(bytes.Buffer), new(bytes.Buffer)
	}
	w.sent++
	n, body := w.sent, w.buf
	w.buf, w.spare = w.spare, body
	w.buf.Reset()
	ch := make(chan partResult, 1)
	w.pending = ch
	go func() {
		part, err := w.s.objects.UploadPart(w.ctx, w.c, w.t.Bucket, w.t.Key, w.t.UploadID, n, bytes.NewReader(body.Bytes()), int64(body.Len()))
		ch <- partResult{objects.CompletedPart{Number: n, ETag: part.ETag}, err}
	}()
	return nil
}

// wait waits for the upload in flight, if any, and records its part.
func (w *partWriter) wait() error {
	if w.pending == nil {
		return nil
	}
	r := <-w.pending
	w.pending = nil
	if r.err != nil {
		return r.err
	}
	w.done = append(w.done, r.part)
	return nil
}

// flush uploads what is buffered as the last part (an empty one if no
// part was sent) and waits for every upload.
func (w *partWriter) flush() error {
	if w.sent == 0 || w.buf != nil && w.buf.Len() > 0 {
		if err := w.send(); err != nil {
			return err
		}
	}
	return w.wait()
}
