package imports

import (
	"context"
	"errors"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// TaskRetention is how long a task that ended (completed or deleted)
// stays described, as on AWS ("you can view them for up to 7 days after
// they complete"); then Expire forgets it, and its ClientToken with it.
const TaskRetention = 7 * 24 * time.Hour

// Expire forgets the tasks of the regions that ended more than
// TaskRetention ago (by their last change) and returns how many. The
// service's import worker calls it once a minute.
func (s *Imports) Expire(ctx context.Context, regions []string) (int, error) {
	cutoff := s.now().UTC().Add(-TaskRetention)
	n := 0
	for _, r := range regions {
		var old []string
		err := s.cfg.Store.View(ctx, func(tx metadata.Tx) error {
			old = nil
			list, err := tx.ImportTasks().List(r, "", "", 0)
			for _, t := range list {
				if (t.Status == openami.ImportCompleted || t.Status == openami.ImportDeleted) && t.UpdatedAt.Before(cutoff) {
					old = append(old, t.ID)
				}
			}
			return err
		})
		if err != nil || len(old) == 0 {
			if err != nil {
				return n, err
			}
			continue
		}
		err = s.cfg.Store.Update(ctx, func(tx metadata.Tx) error {
			for _, id := range old {
				if err := tx.ImportTasks().Delete(r, id); err != nil && !errors.Is(err, openami.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(old)
	}
	return n, nil
}
