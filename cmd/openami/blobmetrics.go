package main

import (
	"context"
	"io"

	"github.com/openami/openami/blob"
	"github.com/prometheus/client_golang/prometheus"
)

// blobReads counts what the block store reads from its blob stores, per
// region: whole blobs opened (chunks mostly) and the bytes read from
// them, as they are stored (compressed, encrypted). serve exports them at
// GET /metrics as openami_blob_reads_total and
// openami_blob_read_bytes_total; the boot benchmark reads them to give
// the bytes a boot fetched from the block store (docs/BENCHMARKS.md).
type blobReads struct {
	gets, bytes *prometheus.CounterVec
}

func newBlobReads() *blobReads {
	return &blobReads{
		gets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "openami_blob_reads_total",
			Help: "Blobs opened for reading in the block store's blob stores (chunks, mostly), by region."}, []string{"region"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "openami_blob_read_bytes_total",
			Help: "Bytes read from the block store's blob stores, as stored (compressed, encrypted), by region."}, []string{"region"}),
	}
}

// Describe and Collect make blobReads a prometheus.Collector.
func (r *blobReads) Describe(ch chan<- *prometheus.Desc) { r.gets.Describe(ch); r.bytes.Describe(ch) }

// Collect sends the counters' values.
func (r *blobReads) Collect(ch chan<- prometheus.Metric) { r.gets.Collect(ch); r.bytes.Collect(ch) }

// wrap returns st counting its reads under region. A store that is a
// blob.Cleaner stays one.
func (r *blobReads) wrap(region string, st blob.Store) blob.Store {
	c := countingStore{Store: st, gets: r.gets.WithLabelValues(region), bytes: r.bytes.WithLabelValues(region)}
	if cl, ok := st.(blob.Cleaner); ok {
		return countingCleaner{c, cl}
	}
	return c
}

// countingStore is a blob.Store that counts what is read through Get.
type countingStore struct {
	blob.Store
	gets, bytes prometheus.Counter
}

// Get opens the blob and counts it, and the bytes read from it as they
// are read.
func (s countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	s.gets.Inc()
	return countingReader{r, s.bytes}, nil
}

// Batch is the wrapped store's batch (blob.NewBatch): batches write, and
// only reads are counted.
func (s countingStore) Batch() blob.Batch { return blob.NewBatch(s.Store) }

type countingCleaner struct {
	countingStore
	blob.Cleaner
}

type countingReader struct {
	io.ReadCloser
	n prometheus.Counter
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(float64(n))
	return n, err
}

// Unwrap returns the wrapped reader (blob.FileOf): what is read from it
// directly is not counted (rules/imports reads an uploaded disk in place).
func (r countingReader) Unwrap() io.ReadCloser { return r.ReadCloser }
