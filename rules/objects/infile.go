package objects

import (
	"context"
	"os"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// OpenFile opens an object for reading in place when it is one file: an
// object of one part in a blob store whose blobs are files (blob/dir's
// Get returns the *os.File, open read-only; blob.FileOf). It checks c's access as
// Open does. It returns a nil file, and no error, when the object is not
// one file (several parts, or an S3 blob store): the caller then reads it
// with Open. The file stays readable even if the object is deleted or
// replaced meanwhile (its blob is unlinked, not changed).
func (s *Buckets) OpenFile(ctx context.Context, c Caller, bucketName, key string) (*os.File, openami.Object, error) {
	b, o, err := s.lookup(ctx, c, bucketName, key)
	if err != nil {
		return nil, o, err
	}
	if len(o.Parts) != 1 || o.Parts[0].Size != o.Size {
		return nil, o, nil
	}
	bs, err := s.blobsOf(b)
	if err != nil {
		return nil, o, err
	}
	rc, err := bs.Get(ctx, o.Parts[0].Blob)
	if err != nil {
		return nil, o, err
	}
	f := blob.FileOf(rc)
	if f == nil {
		rc.Close()
		return nil, o, nil
	}
	if st, err := f.Stat(); err != nil || st.Size() != o.Size {
		f.Close()
		return nil, o, err
	}
	return f, o, nil
}
