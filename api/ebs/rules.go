package ebs

import (
	"context"

	"github.com/openami/openami"
	ebsrules "github.com/openami/openami/rules/ebs"
)

// Snapshots is what the EBS direct API calls, and all it calls, of the
// rules of EBS (*ebs.Volumes of rules/ebs, which api.New takes from the
// service): snapshots written, completed and read block by block. Every
// method takes the caller's principal and returns *openami.Error values
// this package maps to exceptions (errors.go).
type Snapshots interface {
	StartSnapshot(ctx context.Context, p openami.Principal, in ebsrules.StartSnapshotInput) (ebsrules.SnapshotView, error)
	PutSnapshotBlock(ctx context.Context, p openami.Principal, in ebsrules.PutSnapshotBlockInput) (string, error)
	CompleteSnapshot(ctx context.Context, p openami.Principal, in ebsrules.CompleteSnapshotInput) (openami.SnapshotState, error)
	ListSnapshotBlocks(ctx context.Context, p openami.Principal, id string, startIndex int64, maxResults int, token string) (ebsrules.BlockPage, error)
	ListChangedBlocks(ctx context.Context, p openami.Principal, firstID, secondID string, startIndex int64, maxResults int, token string) (ebsrules.BlockPage, error)
	GetSnapshotBlock(ctx context.Context, p openami.Principal, id string, index int64, token string, dst []byte) (string, error)
}

// The rules of rules/ebs are what this package needs.
var _ Snapshots = (*ebsrules.Volumes)(nil)
