package ec2

import (
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
)

// This file is the one place that turns the causes of images' and
// instances' states into EC2's state reason codes, and back for filters.

// causeCodes maps a cause to the code EC2 reports in a stateReason.
var causeCodes = map[openami.StateCause]string{
	openami.CauseSnapshotGone:     "Client.InvalidSnapshot.NotFound",
	openami.CauseSnapshotFailed:   "Server.InternalError",
	openami.CauseUserShutdown:     "Client.UserInitiatedShutdown",
	openami.CauseGuestShutdown:    "Client.InstanceInitiatedShutdown",
	openami.CauseKeyUnusable:      "Client.InvalidKMSKey.InvalidState",
	openami.CauseLaunchFailed:     "Server.InternalError",
	openami.CauseHostFailed:       "Server.InternalError",
	openami.CauseLaunching:        "pending",
	openami.CauseBundleCopyFailed: "Server.InternalError",
}

// causeCode returns the EC2 code of a cause. A cause this table does not
// know is one stored before causes existed, which is already EC2's code.
func causeCode(c openami.StateCause) (code string, known bool) {
	if code, ok := causeCodes[c]; ok {
		return code, true
	}
	return string(c), false
}

// imageStateReason renders an image's StateReason, or nil for none.
func imageStateReason(r openami.StateReason) *stateReasonItem {
	if r.Cause == "" {
		return nil
	}
	code, _ := causeCode(r.Cause)
	return &stateReasonItem{code, r.Message}
}

// instanceStateReason renders an instance's StateReason, or nil for none.
// EC2 repeats the code at the head of an instance's message.
func instanceStateReason(r openami.StateReason) *stateReasonItem {
	if r.Cause == "" {
		return nil
	}
	code, known := causeCode(r.Cause)
	if !known {
		return &stateReasonItem{code, r.Message}
	}
	return &stateReasonItem{code, code + ": " + r.Message}
}

// transitionWords maps the cause of an instance's state transition to
// EC2's free text for it (an instance's reason, and what the reason
// filter matches), given the transition's time.
var transitionWords = map[openami.StateCause]func(at time.Time) string{
	openami.CauseUserShutdown: func(at time.Time) string {
		return "User initiated (" + at.UTC().Format("2006-01-02 15:04:05") + " GMT)"
	},
	openami.CauseGuestShutdown: func(time.Time) string {
		return "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
	},
	openami.CauseHostFailed: func(at time.Time) string {
		return "Server.InternalError: the instance's host failed (" + at.UTC().Format("2006-01-02 15:04:05") + " GMT)"
	},
}

// transitionReason renders an instance's StateTransition as EC2's free
// text: "" for none, the text an earlier version stored as it is, and
// the cause itself for a cause the table lacks. It is an
// instances.TransitionWords.
func transitionReason(t openami.StateTransition) string {
	if t.Text != "" || t.Cause == "" {
		return t.Text
	}
	if words, ok := transitionWords[t.Cause]; ok {
		return words(t.At)
	}
	return string(t.Cause)
}

// causeFilters rewrites the values of the state-reason-code and
// state-reason-message filters, which the client writes in EC2's terms,
// so that they match the causes and messages openami stores: a code
// pattern also matches every cause whose code it matches, and, when
// prefixed (instances, whose messages EC2 renders after their code), a
// message that begins with a code also matches the message without it.
// The values as sent are kept, for state reasons stored before causes
// existed.
func causeFilters(fs []filter.Filter, prefixed bool) []filter.Filter {
	for i, f := range fs {
		if len(f.Values) > filter.MaxValues {
			continue // Compile refuses it as sent
		}
		var extra []string
		switch f.Name {
		case "state-reason-code":
			for _, v := range f.Values {
				p := filter.NewPattern(v)
				for c, code := range causeCodes {
					if p.Match(code) {
						extra = append(extra, string(c))
					}
				}
			}
		case "state-reason-message":
			if !prefixed {
				continue
			}
			for _, v := range f.Values {
				for _, code := range causeCodes {
					if rest, ok := strings.CutPrefix(v, code+": "); ok {
						extra = append(extra, rest)
						break
					}
				}
			}
		}
		if len(extra) > 0 {
			vs := append(append([]string(nil), f.Values...), extra...)
			fs[i].Values = dedupe(vs)
		}
	}
	return fs
}

func dedupe(vs []string) []string {
	seen := make(map[string]bool, len(vs))
	out := vs[:0]
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
