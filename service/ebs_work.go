package service

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata/lease"
)

// The background work of EBS: rules/ebs does the work of a copy
// (ebs.Volumes.CopyInto) or a fill (FillVolume) and records the tasks;
// the service's worker schedules them, once each, in the context that
// Close cancels, under the task's lease (leases.go), so that of several
// nodes one does each. rules/ebs asks for them through the functions
// service.New gives it (ebs.Config.Copy, ebs.Config.Fill); the worker's
// passes resume those no node runs (resumeTasks).

// fillVolumeInBackground starts filling a creating volume of the region
// from its snapshot, unless a fill of it already runs here or on
// another node.
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
		ran, err := s.leases.Run(ctx, fillLease(volumeID), func(ctx context.Context) error {
			err := s.ebs.FillVolume(ctx, region, volumeID)
			if err == nil || ctx.Err() != nil || lease.Lost(err) {
				return err // done, or stopped: the task stays, to be resumed
			}
			c.log.Error("volume fill", "volume", volumeID, "error", err)
			return s.ebs.FailFill(context.WithoutCancel(ctx), region, volumeID)
		})
		if err != nil && ctx.Err() == nil && !lease.Lost(err) {
			c.log.Error("volume fill", "volume", volumeID, "error", err)
		}
		if ran {
			c.kick() // an instance waiting for the volume starts
		}
	}()
}

// copyInBackground runs CopyInto for a copy recorded with ebs.RecordCopy
// and turns the copy to error, with the reason, if it fails
// (ebs.Volumes.EndCopy), unless a copy into dst already runs here or on
// another node. A copy that a restart or a takeover interrupts is
// resumed (resumeTasks): CopyInto starts over, and every chunk an
// earlier run had committed is found at the destination, not moved
// again (at most the batch in flight is moved twice).
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
		_, err := s.leases.Run(ctx, copyLease(dst.ID), func(ctx context.Context) error {
			underWay, err := s.ebs.CopyUnderWay(ctx, dst)
			if err != nil || !underWay {
				return err // ended meanwhile, by this node or another
			}
			_, copyErr := s.ebs.CopyInto(ctx, src, dst)
			if copyErr != nil && (ctx.Err() != nil || lease.Lost(copyErr)) {
				return copyErr // stopped: the task stays, to be resumed
			}
			if copyErr != nil {
				c.log.Error("snapshot copy", "snapshot", dst.ID, "source", src.ID, "error", copyErr)
			}
			return s.ebs.EndCopy(context.WithoutCancel(ctx), dst, copyErr)
		})
		if err != nil && ctx.Err() == nil && !lease.Lost(err) {
			c.log.Error("snapshot copy", "snapshot", dst.ID, "error", err)
		}
	}()
}
