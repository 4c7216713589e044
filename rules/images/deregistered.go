package images

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// recentlyDeregistered is how long the id of an image deregistered for
// good (not into the Recycle Bin) still answers DescribeImages with an
// empty list rather than InvalidAMIID.NotFound. EC2 documents that
// "recently deregistered images appear in the returned results for a
// short interval and then return empty results", and only later answers
// that the id cannot be found; tools rely on the empty list (Ansible's
// amazon.aws ec2_ami, state absent, waits for it after DeregisterImage).
// An image in the Recycle Bin keeps its record and answers empty all the
// while it is there.
const recentlyDeregistered = time.Hour

// maxRecentlyDeregistered bounds the ids remembered per account and
// region; the oldest are forgotten first.
const maxRecentlyDeregistered = 1000

// deregisteredSetting is the setting holding, for one account in one
// region, the ids it deregistered recently and when.
func deregisteredSetting(p openami.Principal) string {
	return "images-deregistered/" + p.Region + "/" + p.AccountID
}

// readDeregistered returns the caller's recently deregistered image ids
// still within recentlyDeregistered of now.
func readDeregistered(tx metadata.Tx, p openami.Principal, now time.Time) (map[string]time.Time, error) {
	v, err := tx.Settings().Get(deregisteredSetting(p))
	if errors.Is(err, openami.ErrNotFound) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]time.Time{}
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	for id, at := range m {
		if now.Sub(at) >= recentlyDeregistered {
			delete(m, id)
		}
	}
	return m, nil
}

// rememberDeregistered records that the caller deregistered id at now,
// forgetting what is older than recentlyDeregistered and, past
// maxRecentlyDeregistered ids, the oldest.
func rememberDeregistered(tx metadata.Tx, p openami.Principal, id string, now time.Time) error {
	m, err := readDeregistered(tx, p, now)
	if err != nil {
		return err
	}
	m[id] = now
	for len(m) > maxRecentlyDeregistered {
		oldest := id
		for k, at := range m {
			if at.Before(m[oldest]) {
				oldest = k
			}
		}
		delete(m, oldest)
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Settings().Put(deregisteredSetting(p), v)
}
