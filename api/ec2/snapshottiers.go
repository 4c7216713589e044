package ec2

import (
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/ebs"
)

// Snapshot tiers: ModifySnapshotTier, RestoreSnapshotTier and
// DescribeSnapshotTierStatus (the rules are rules/ebs/tiers.go).

// tierFilterNames maps DescribeSnapshotTierStatus' filter names to the
// rules' attributes.
var tierFilterNames = map[string]filter.Attr{
	"snapshot-id":            ebs.AttrTierSnapshotID,
	"volume-id":              ebs.AttrTierVolumeID,
	"last-tiering-operation": ebs.AttrTierLastOperation,
}

type modifySnapshotTierInput struct {
	dryRunParam
	SnapshotID  string `query:"SnapshotId,required"`
	StorageTier string `query:"StorageTier"`
}

type modifySnapshotTierResponse struct {
	response
	SnapshotID       string `xml:"snapshotId"`
	TieringStartTime string `xml:"tieringStartTime"`
}

func (h *Handler) modifySnapshotTier(c *call) (responder, error) {
	var in modifySnapshotTierInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	started, err := h.ebs.ModifySnapshotTier(c.ctx, c.p, in.SnapshotID, openami.StorageTier(in.StorageTier))
	if err != nil {
		return nil, err
	}
	return &modifySnapshotTierResponse{SnapshotID: in.SnapshotID, TieringStartTime: timestamp(started)}, nil
}

type restoreSnapshotTierInput struct {
	dryRunParam
	SnapshotID           string `query:"SnapshotId,required"`
	TemporaryRestoreDays *int   `query:"TemporaryRestoreDays"`
	PermanentRestore     bool   `query:"PermanentRestore"`
}

type restoreSnapshotTierResponse struct {
	response
	SnapshotID         string `xml:"snapshotId"`
	RestoreStartTime   string `xml:"restoreStartTime"`
	RestoreDuration    int    `xml:"restoreDuration,omitempty"`
	IsPermanentRestore bool   `xml:"isPermanentRestore"`
}

func (h *Handler) restoreSnapshotTier(c *call) (responder, error) {
	var in restoreSnapshotTierInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	r, err := h.ebs.RestoreSnapshotTier(c.ctx, c.p, ebs.RestoreInput{SnapshotID: in.SnapshotID, TemporaryDays: in.TemporaryRestoreDays, Permanent: in.PermanentRestore})
	if err != nil {
		return nil, err
	}
	return &restoreSnapshotTierResponse{SnapshotID: r.SnapshotID, RestoreStartTime: timestamp(r.Started), RestoreDuration: r.Days,
		IsPermanentRestore: r.Permanent}, nil
}

type describeSnapshotTierStatusInput struct {
	dryRunParam
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type snapshotTierStatusItem struct {
	SnapshotID                 string         `xml:"snapshotId"`
	VolumeID                   string         `xml:"volumeId"`
	Status                     string         `xml:"status"`
	OwnerID                    string         `xml:"ownerId"`
	Tags                       items[tagItem] `xml:"tagSet"`
	StorageTier                string         `xml:"storageTier"`
	LastTieringStartTime       string         `xml:"lastTieringStartTime,omitempty"`
	LastTieringProgress        int            `xml:"lastTieringProgress,omitempty"`
	LastTieringOperationStatus string         `xml:"lastTieringOperationStatus,omitempty"`
	ArchivalCompleteTime       string         `xml:"archivalCompleteTime,omitempty"`
	RestoreExpiryTime          string         `xml:"restoreExpiryTime,omitempty"`
}

type describeSnapshotTierStatusResponse struct {
	response
	Statuses  items[snapshotTierStatusItem] `xml:"snapshotTierStatusSet"`
	NextToken string                        `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSnapshotTierStatus(c *call) (responder, error) {
	var in describeSnapshotTierStatusInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, tierFilterNames)
	if err != nil {
		return nil, err
	}
	snaps, next, err := h.ebs.DescribeSnapshotTierStatus(c.ctx, c.p, fs, ebs.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeSnapshotTierStatusResponse{NextToken: next}
	for _, s := range snaps {
		t := s.Tiering
		item := snapshotTierStatusItem{SnapshotID: s.ID, VolumeID: s.VolumeID, Status: string(s.State), OwnerID: s.AccountID,
			Tags: tagSet(s.Tags), StorageTier: string(t.Tier()), LastTieringOperationStatus: string(t.Status),
			LastTieringProgress: t.Progress, ArchivalCompleteTime: optionalTime(t.ArchivedAt), RestoreExpiryTime: optionalTime(ebs.RestoreExpiry(s.Snapshot))}
		if t.Status != "" {
			item.LastTieringStartTime = timestamp(t.Started)
		}
		out.Statuses = append(out.Statuses, item)
	}
	return out, nil
}

// optionalTime is t as EC2 writes it, "" when zero (the element omitted).
func optionalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return timestamp(t)
}
