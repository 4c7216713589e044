// Package ebs serves the EBS direct API (version 2019-11-02) in its
// REST-JSON protocol: StartSnapshot, PutSnapshotBlock, CompleteSnapshot,
// ListSnapshotBlocks, ListChangedBlocks and GetSnapshotBlock. Paths and
// headers are EBS's; every rule is in rules/ebs, which this package calls
// through the Snapshots interface it declares (rules.go).
package ebs

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	ebsrules "github.com/openami/openami/rules/ebs"
)

// Handler serves the EBS direct protocol.
type Handler struct {
	snaps Snapshots
	// blocks recycles GetSnapshotBlock's 512 KiB buffers.
	blocks sync.Pool
}

// New returns the EBS direct protocol handler over snaps.
func New(snaps Snapshots) *Handler {
	return &Handler{snaps: snaps, blocks: sync.Pool{New: func() any { return make([]byte, openami.BlockSize) }}}
}

// request is one EBS call on its way through.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	p    openami.Principal
	// parts are the path's segments after /snapshots.
	parts []string
}

// Serve answers an authenticated EBS direct request. It returns the
// operation, the error code it answered with ("" on success) and the error.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	op, err := h.serve(&request{w: w, r: r, body: body, p: p})
	if err != nil {
		return op, h.WriteError(w, requestID, err), err
	}
	return op, "", nil
}

func (h *Handler) serve(q *request) (string, error) {
	path := strings.Trim(q.r.URL.Path, "/")
	parts := strings.Split(path, "/")
	if parts[0] != "snapshots" {
		return "", errUnknownOperation
	}
	q.parts = parts[1:]
	n, m := len(q.parts), q.r.Method
	switch {
	case n == 0 && m == http.MethodPost:
		return "StartSnapshot", h.startSnapshot(q)
	case n == 2 && q.parts[0] == "completion" && m == http.MethodPost:
		return "CompleteSnapshot", h.completeSnapshot(q)
	case n == 3 && q.parts[1] == "blocks" && m == http.MethodPut:
		return "PutSnapshotBlock", h.putSnapshotBlock(q)
	case n == 3 && q.parts[1] == "blocks" && m == http.MethodGet:
		return "GetSnapshotBlock", h.getSnapshotBlock(q)
	case n == 2 && q.parts[1] == "blocks" && m == http.MethodGet:
		return "ListSnapshotBlocks", h.listSnapshotBlocks(q)
	case n == 2 && q.parts[1] == "changedblocks" && m == http.MethodGet:
		return "ListChangedBlocks", h.listChangedBlocks(q)
	}
	return "", errUnknownOperation
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// epoch formats a time as REST-JSON timestamps are: seconds since the
// epoch, as a JSON number.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type startSnapshotInput struct {
	VolumeSize       *int64 `json:"VolumeSize"`
	ParentSnapshotID string `json:"ParentSnapshotId"`
	Tags             []tag  `json:"Tags"`
	Description      string `json:"Description"`
	ClientToken      string `json:"ClientToken"`
	Encrypted        bool   `json:"Encrypted"`
	KmsKeyArn        string `json:"KmsKeyArn"`
	Timeout          int    `json:"Timeout"`
}

type startSnapshotOutput struct {
	Description      string      `json:"Description,omitempty"`
	SnapshotID       string      `json:"SnapshotId"`
	OwnerID          string      `json:"OwnerId"`
	Status           string      `json:"Status"`
	StartTime        json.Number `json:"StartTime"`
	VolumeSize       int64       `json:"VolumeSize"`
	BlockSize        int         `json:"BlockSize"`
	Tags             []tag       `json:"Tags,omitempty"`
	ParentSnapshotID string      `json:"ParentSnapshotId,omitempty"`
	KmsKeyArn        string      `json:"KmsKeyArn,omitempty"`
	SseType          string      `json:"SseType"`
}

func (h *Handler) startSnapshot(q *request) error {
	var in startSnapshotInput
	if err := json.Unmarshal(q.body, &in); err != nil {
		return openami.FieldErrorf(openami.InvalidParameter, "", "The request body is not valid JSON: %v", err)
	}
	if in.VolumeSize == nil {
		return openami.FieldErrorf(openami.MissingParameter, "VolumeSize", "VolumeSize is required.")
	}
	tags := make([]openami.Tag, len(in.Tags))
	for i, t := range in.Tags {
		tags[i] = openami.Tag{Key: t.Key, Value: t.Value}
	}
	snap, err := h.snaps.StartSnapshot(q.r.Context(), q.p, ebsrules.StartSnapshotInput{
		VolumeSize: *in.VolumeSize, ParentID: in.ParentSnapshotID, Description: in.Description, Tags: tags,
		ClientToken: in.ClientToken, Timeout: time.Duration(in.Timeout) * time.Minute,
		Encrypted: in.Encrypted, KmsKeyARN: in.KmsKeyArn,
	})
	if err != nil {
		return err
	}
	out := startSnapshotOutput{
		Description: snap.Description, SnapshotID: snap.ID, OwnerID: snap.AccountID, Status: string(snap.State),
		StartTime: epoch(snap.StartTime), VolumeSize: snap.VolumeSize, BlockSize: openami.BlockSize,
		ParentSnapshotID: snap.ParentID, SseType: "none", KmsKeyArn: snap.KmsKeyID,
	}
	if snap.Encrypted {
		out.SseType = "sse-ebs"
	}
	for _, t := range snap.Tags {
		out.Tags = append(out.Tags, tag{t.Key, t.Value})
	}
	return writeJSON(q.w, http.StatusCreated, out)
}

// index parses a block index from the path or query.
func index(s, field string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, openami.FieldErrorf(openami.InvalidParameter, field, "%s must be a non-negative integer.", field)
	}
	return n, nil
}

func (h *Handler) putSnapshotBlock(q *request) error {
	idx, err := index(q.parts[2], "BlockIndex")
	if err != nil {
		return err
	}
	hdr := q.r.Header
	length, err := strconv.ParseInt(hdr.Get("x-amz-Data-Length"), 10, 64)
	if err != nil {
		return openami.FieldErrorf(openami.InvalidParameter, "DataLength", "The x-amz-Data-Length header is required.")
	}
	var progress *int
	if v := hdr.Get("x-amz-Progress"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return openami.FieldErrorf(openami.InvalidParameter, "Progress", "x-amz-Progress must be an integer.")
		}
		progress = &n
	}
	sum, err := h.snaps.PutSnapshotBlock(q.r.Context(), q.p, ebsrules.PutSnapshotBlockInput{
		SnapshotID: q.parts[0], Index: idx, Data: q.body, DataLength: length,
		Checksum: hdr.Get("x-amz-Checksum"), ChecksumAlgorithm: hdr.Get("x-amz-Checksum-Algorithm"), Progress: progress,
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("x-amz-Checksum", sum)
	q.w.Header().Set("x-amz-Checksum-Algorithm", "SHA256")
	return writeJSON(q.w, http.StatusCreated, struct{}{})
}

func (h *Handler) completeSnapshot(q *request) error {
	hdr := q.r.Header
	count, err := strconv.ParseInt(hdr.Get("x-amz-ChangedBlocksCount"), 10, 64)
	if err != nil {
		return openami.FieldErrorf(openami.InvalidParameter, "ChangedBlocksCount", "The x-amz-ChangedBlocksCount header is required.")
	}
	state, err := h.snaps.CompleteSnapshot(q.r.Context(), q.p, ebsrules.CompleteSnapshotInput{
		SnapshotID: q.parts[1], ChangedBlocksCount: count, Checksum: hdr.Get("x-amz-Checksum"),
		ChecksumAlgorithm: hdr.Get("x-amz-Checksum-Algorithm"), ChecksumAggregationMethod: hdr.Get("x-amz-Checksum-Aggregation-Method"),
	})
	if err != nil {
		return err
	}
	return writeJSON(q.w, http.StatusAccepted, map[string]string{"Status": string(state)})
}

// pageParams reads ListSnapshotBlocks' and ListChangedBlocks' query.
func pageParams(q *request) (start int64, maxResults int, token string, err error) {
	v := q.r.URL.Query()
	if s := v.Get("startingBlockIndex"); s != "" {
		if start, err = index(s, "StartingBlockIndex"); err != nil {
			return
		}
	}
	if s := v.Get("maxResults"); s != "" {
		if maxResults, err = strconv.Atoi(s); err != nil {
			err = openami.FieldErrorf(openami.InvalidParameter, "MaxResults", "maxResults must be an integer.")
			return
		}
	}
	return start, maxResults, v.Get("pageToken"), nil
}

type block struct {
	BlockIndex int64  `json:"BlockIndex"`
	BlockToken string `json:"BlockToken"`
}

type listBlocksOutput struct {
	Blocks     []block     `json:"Blocks"`
	ExpiryTime json.Number `json:"ExpiryTime"`
	VolumeSize int64       `json:"VolumeSize"`
	BlockSize  int         `json:"BlockSize"`
	NextToken  string      `json:"NextToken,omitempty"`
}

func (h *Handler) listSnapshotBlocks(q *request) error {
	start, maxResults, token, err := pageParams(q)
	if err != nil {
		return err
	}
	page, err := h.snaps.ListSnapshotBlocks(q.r.Context(), q.p, q.parts[0], start, maxResults, token)
	if err != nil {
		return err
	}
	out := listBlocksOutput{Blocks: []block{}, ExpiryTime: epoch(page.Expiry), VolumeSize: page.VolumeSize, BlockSize: openami.BlockSize, NextToken: page.NextToken}
	for _, b := range page.Blocks {
		out.Blocks = append(out.Blocks, block{b.Index, b.Token})
	}
	return writeJSON(q.w, http.StatusOK, out)
}

type changedBlock struct {
	BlockIndex       int64  `json:"BlockIndex"`
	FirstBlockToken  string `json:"FirstBlockToken,omitempty"`
	SecondBlockToken string `json:"SecondBlockToken,omitempty"`
}

type listChangedOutput struct {
	ChangedBlocks []changedBlock `json:"ChangedBlocks"`
	ExpiryTime    json.Number    `json:"ExpiryTime"`
	VolumeSize    int64          `json:"VolumeSize"`
	BlockSize     int            `json:"BlockSize"`
	NextToken     string         `json:"NextToken,omitempty"`
}

func (h *Handler) listChangedBlocks(q *request) error {
	start, maxResults, token, err := pageParams(q)
	if err != nil {
		return err
	}
	first := q.r.URL.Query().Get("firstSnapshotId")
	page, err := h.snaps.ListChangedBlocks(q.r.Context(), q.p, first, q.parts[0], start, maxResults, token)
	if err != nil {
		return err
	}
	out := listChangedOutput{ChangedBlocks: []changedBlock{}, ExpiryTime: epoch(page.Expiry), VolumeSize: page.VolumeSize, BlockSize: openami.BlockSize, NextToken: page.NextToken}
	for _, b := range page.Blocks {
		out.ChangedBlocks = append(out.ChangedBlocks, changedBlock{b.Index, b.Token, b.SecondToken})
	}
	return writeJSON(q.w, http.StatusOK, out)
}

func (h *Handler) getSnapshotBlock(q *request) error {
	idx, err := index(q.parts[2], "BlockIndex")
	if err != nil {
		return err
	}
	token := q.r.URL.Query().Get("blockToken")
	if token == "" {
		return openami.FieldErrorf(openami.MissingParameter, "BlockToken", "blockToken is required.")
	}
	buf := h.blocks.Get().([]byte)
	defer h.blocks.Put(buf)
	sum, err := h.snaps.GetSnapshotBlock(q.r.Context(), q.p, q.parts[0], idx, token, buf)
	if err != nil {
		return err
	}
	hdr := q.w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.Itoa(len(buf)))
	hdr.Set("x-amz-Data-Length", strconv.Itoa(len(buf)))
	hdr.Set("x-amz-Checksum", sum)
	hdr.Set("x-amz-Checksum-Algorithm", "SHA256")
	q.w.WriteHeader(http.StatusOK)
	_, err = q.w.Write(buf)
	return err
}
