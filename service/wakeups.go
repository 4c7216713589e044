package service

import (
	"context"
	"time"
)

// Wakeups carries wake-up calls between the nodes of one database
// (metadata/postgres.Wakeups: LISTEN/NOTIFY). With them a compute host
// acts at once on an instance placed on it, and on a stop, reboot or
// flush asked through another node; without them (SQLite, a single
// node) it does at its next pass, a third of its heartbeat. Either way
// a wake-up lost costs only that wait.
type Wakeups interface {
	// Notify wakes whoever listens for topic.
	Notify(ctx context.Context, topic string) error
	// Listen calls on for each wake-up of topic, and once whenever it
	// (re)starts listening, until ctx is done; failed is told of each
	// failure of its connection.
	Listen(ctx context.Context, topic string, on func(), failed func(error))
}

// wakeTimeout bounds a wake-up's send: it is best effort.
const wakeTimeout = 2 * time.Second

// wakeHost wakes a compute host's node (instances.Config.WakeHost).
func (s *Service) wakeHost(id string) {
	ctx, log := s.completions.background()
	ctx, cancel := context.WithTimeout(ctx, wakeTimeout)
	defer cancel()
	if err := s.wakeups.Notify(ctx, id); err != nil {
		log.Warn("wake-up of a host not sent: it acts at its next pass", "host", id, "error", err)
	}
}

// listenWakeups has this node, the compute host id, kick its worker on
// each wake-up of it, until Close.
func (s *Service) listenWakeups(id string) {
	if s.wakeups == nil {
		return
	}
	c := s.completions
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, log := c.background()
		s.wakeups.Listen(ctx, id, c.kick, func(err error) {
			log.Warn("host wake-ups: listening again", "host", id, "error", err)
		})
	}()
}
