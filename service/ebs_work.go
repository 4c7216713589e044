package service

import (
	"context"

	"github.com/openami/openami"
)

// The background work of EBS: rules/ebs does the work of a copy
// (ebs.Volumes.CopyInto) or a fill (FillVolume) and records the tasks;
// the service's worker schedules them, once each, in the context that
// Close cancels. rules/ebs asks for them through the functions service.New
// gives it (ebs.Config.Copy, ebs.Config.Fill).

// fillVolumeInBackground starts filling a creating volume of the region
// from its snapshot, unless a fill of it already runs.
func (s *Service) fillVolumeInBackground(region, volumeID string) {
	c := s.completions
	if !c.claim(volumeID) {
		return // already running
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.release(volumeID)
		ctx := c.context()
		err := s.ebs.FillVolume(ctx, region, volumeID)
		if err == nil || ctx.Err() != nil {
			c.kick() // an instance waiting for the volume starts
			return
		}
		c.log.Error("volume fill", "volume", volumeID, "error", err)
		s.ebs.FailFill(context.Background(), region, volumeID)
		c.kick()
	}()
}

// copyInBackground runs CopyInto for a copy recorded with ebs.RecordCopy
// and turns the copy to error, with the reason, if it fails
// (ebs.Volumes.EndCopy). A copy that a restart interrupts is resumed by
// ResumeCopies: CopyInto starts over, and every chunk it had already
// moved is found at the destination, not moved again.
func (s *Service) copyInBackground(src, dst openami.Snapshot) {
	c := s.completions
	if !c.claim(dst.ID) {
		return // already running
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.release(dst.ID)
		ctx := c.context()
		_, copyErr := s.ebs.CopyInto(ctx, src, dst)
		if copyErr != nil && ctx.Err() != nil {
			return // shutting down: the task stays, to be resumed
		}
		if copyErr != nil {
			c.log.Error("snapshot copy", "snapshot", dst.ID, "source", src.ID, "error", copyErr)
		}
		if err := s.ebs.EndCopy(context.Background(), dst, copyErr); err != nil {
			c.log.Error("snapshot copy", "snapshot", dst.ID, "error", err)
		}
	}()
}
