package objects

import (
	"context"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// ListInput is a ListObjects (v1 or v2) request: keys after After (v1's
// marker, v2's continuation token or start-after) that start with
// Prefix, grouped into common prefixes at the first Delimiter after the
// prefix, at most MaxKeys of keys and prefixes together (0..1000;
// MaxListKeys when negative).
type ListInput struct {
	Prefix    string
	Delimiter string
	After     string
	MaxKeys   int
}

// ListPage is a page of a bucket's objects: keys and common prefixes in
// key order, whether more follow, and the last key or prefix of the page
// (where the next page begins).
type ListPage struct {
	Objects        []openami.Object
	CommonPrefixes []string
	Truncated      bool
	Last           string
}

// commonPrefix returns the common prefix of key under prefix and
// delimiter, if key has one.
func commonPrefix(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}

// ListObjects lists a bucket's objects as in.
func (s *Buckets) ListObjects(ctx context.Context, c Caller, bucketName string, in ListInput) (ListPage, error) {
	if in.MaxKeys < 0 || in.MaxKeys > MaxListKeys {
		in.MaxKeys = MaxListKeys
	}
	var pg ListPage
	err := s.view(ctx, func(tx metadata.Tx) error {
		pg = ListPage{}
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActListBucket, resource: bucketARN(b.Name), owner: b.AccountID, acl: b.ACL, perm: openami.PermRead}); err != nil {
			return err
		}
		if in.MaxKeys == 0 {
			return nil
		}
		after := in.After
		// A common prefix the page ended on: skip every key under it.
		if cp, ok := commonPrefix(after, in.Prefix, in.Delimiter); ok && after == cp {
			after = cp + "\xff"
		}
		for {
			batch := in.MaxKeys + 1
			list, err := tx.Objects().List(b.ID, metadata.ObjectQuery{Prefix: in.Prefix, After: after, Limit: batch})
			if err != nil {
				return err
			}
			for _, o := range list {
				if len(pg.Objects)+len(pg.CommonPrefixes) == in.MaxKeys {
					pg.Truncated = true
					return nil
				}
				if cp, ok := commonPrefix(o.Key, in.Prefix, in.Delimiter); ok {
					pg.CommonPrefixes = append(pg.CommonPrefixes, cp)
					pg.Last = cp
					// Keys are UTF-8, which never holds 0xff: cp+"\xff"
					// is above every key under cp.
					after = cp + "\xff"
					break
				}
				pg.Objects = append(pg.Objects, o)
				pg.Last = o.Key
				after = o.Key
			}
			if len(list) == 0 {
				return nil
			}
			if len(list) < batch && (len(list) == 0 || after == list[len(list)-1].Key) {
				return nil
			}
		}
	})
	return pg, err
}
