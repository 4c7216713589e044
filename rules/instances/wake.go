package instances

// wake asks the nodes of the hosts named to look at their instances now
// (Config.WakeHost), rather than at their worker's next pass: a host
// notices at once an instance placed on it, a stop, a reboot or a flush
// asked through another node. This node itself is kicked. Best effort:
// a wake-up lost costs the host's pass period (a third of its heartbeat).
func (s *Machines) wake(hostIDs ...string) {
	me, _ := s.Host()
	seen := map[string]bool{}
	for _, id := range hostIDs {
		if id == "" || id == me || seen[id] {
			continue
		}
		seen[id] = true
		if s.wakeHost != nil {
			s.wakeHost(id)
		}
	}
	s.kick()
}
