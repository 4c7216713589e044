package service

import (
	"time"
)

// The import tasks' worker: rules/imports records and runs a task
// (imports.Imports.Run); the service runs the active ones one at a time,
// in the context Close cancels, when ImportImage or ImportSnapshot kicks
// it and once a minute (a restart resumes what the last run left active).
// One at a time bounds the disk space and CPU the conversions take.

// importsLoop runs until Close.
func (s *Service) importsLoop() {
	c := s.completions
	ctx := c.context()
	regions := make([]string, len(s.regions))
	for i, r := range s.regions {
		regions[i] = r.Name
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		pending, err := s.imports.Pending(ctx, regions)
		if err != nil && ctx.Err() == nil {
			c.log.Error("import tasks", "error", err)
		}
		for _, task := range pending {
			if err := s.imports.Run(ctx, task.Region, task.ID); err != nil && ctx.Err() == nil {
				c.log.Error("import task", "task", task.ID, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.importKicks:
		case <-t.C:
		}
	}
}

// kickImports asks the import worker to look for tasks now; it never
// blocks.
func (s *Service) kickImports() {
	select {
	case s.importKicks <- struct{}{}:
	default:
	}
}
