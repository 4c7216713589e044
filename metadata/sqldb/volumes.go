package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type volumes struct {
	t      *tx
	blocks blockTable
}

func volumeNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceVolume, "The volume '%s' does not exist.", id)
}

const volumeColumns = `region, account_id, id, availability_zone, size, type, iops, throughput, snapshot_id, state,
base, multi_attach, encrypted, kms_key_id, client_token, created_at, instance_id, device, attach_time,
delete_on_termination`

func scanVolume(sc scanner) (openami.Volume, error) {
	var (
		v              openami.Volume
		state          string
		at, attachedAt int64
	)
	if err := sc.Scan(&v.Region, &v.AccountID, &v.ID, &v.AvailabilityZone, &v.Size, &v.Type, &v.Iops,
		&v.Throughput, &v.SnapshotID, &state, digestDest{&v.Base}, &v.MultiAttach, &v.Encrypted, &v.KmsKeyID,
		&v.ClientToken, &at, &v.InstanceID, &v.Device, &attachedAt, &v.DeleteOnTermination); err != nil {
		return openami.Volume{}, err
	}
	v.State = openami.VolumeState(state)
	v.CreatedAt = fromNanos(at)
	v.AttachTime = fromNanos(attachedAt)
	return v, nil
}

func (vs volumes) Create(v openami.Volume) error {
	n, err := vs.t.execN(`INSERT INTO volumes (`+volumeColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		v.Region, v.AccountID, v.ID, v.AvailabilityZone, v.Size, v.Type, v.Iops, v.Throughput, v.SnapshotID,
		string(v.State), v.Base[:], v.MultiAttach, v.Encrypted, v.KmsKeyID, v.ClientToken, nanos(v.CreatedAt),
		v.InstanceID, v.Device, nanos(v.AttachTime), v.DeleteOnTermination)
	if err != nil && !vs.t.d.unique(err) {
		return fmt.Errorf("sqldb: create volume: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceVolume, "The volume '%s' already exists.", v.ID)
	}
	return nil
}

// query returns the volumes a query selects.
func (vs volumes) query(query string, args []any) ([]openami.Volume, error) {
	var list []openami.Volume
	err := vs.t.each(`SELECT `+volumeColumns+` FROM volumes WHERE `+query, args, func(r *sql.Rows) error {
		v, err := scanVolume(r)
		list = append(list, v)
		return err
	})
	return list, err
}

func (vs volumes) Get(region, id string) (openami.Volume, error) {
	list, err := vs.query(`id = ? AND region = ?`, []any{id, region})
	if err != nil {
		return openami.Volume{}, fmt.Errorf("sqldb: get volume: %w", err)
	}
	if len(list) == 0 {
		return openami.Volume{}, volumeNotFound(id)
	}
	return list[0], nil
}

func (vs volumes) ByClientToken(region, accountID, token string) (openami.Volume, error) {
	notFound := openami.Errorf(openami.NotFound, openami.ResourceVolume, "No volume was made with the client token '%s'.", token)
	if token == "" {
		return openami.Volume{}, notFound
	}
	list, err := vs.query(`region = ? AND account_id = ? AND client_token = ? ORDER BY id LIMIT 1`,
		[]any{region, accountID, token})
	if err != nil {
		return openami.Volume{}, fmt.Errorf("sqldb: get volume by client token: %w", err)
	}
	if len(list) == 0 {
		return openami.Volume{}, notFound
	}
	return list[0], nil
}

func (vs volumes) Update(v openami.Volume) error {
	n, err := vs.t.execN(`UPDATE volumes SET availability_zone = ?, size = ?, type = ?, iops = ?, throughput = ?,
snapshot_id = ?, state = ?, base = ?, multi_attach = ?, encrypted = ?, kms_key_id = ?, client_token = ?, created_at = ?,
instance_id = ?, device = ?, attach_time = ?, delete_on_termination = ?
WHERE id = ? AND region = ?`,
		v.AvailabilityZone, v.Size, v.Type, v.Iops, v.Throughput, v.SnapshotID, string(v.State), v.Base[:],
		v.MultiAttach, v.Encrypted, v.KmsKeyID, v.ClientToken, nanos(v.CreatedAt),
		v.InstanceID, v.Device, nanos(v.AttachTime), v.DeleteOnTermination, v.ID, v.Region)
	if err != nil {
		return fmt.Errorf("sqldb: update volume: %w", err)
	}
	if n == 0 {
		return volumeNotFound(v.ID)
	}
	return nil
}

func (vs volumes) Delete(region, id string) error {
	n, err := vs.t.execN(`DELETE FROM volumes WHERE id = ? AND region = ?`, id, region)
	if err != nil {
		return fmt.Errorf("sqldb: delete volume: %w", err)
	}
	if n == 0 {
		return volumeNotFound(id)
	}
	return vs.blocks.deleteAll(id)
}

// List runs one query, or one per piece of an id list too long for one IN
// clause; the pieces come in id order.
func (vs volumes) List(region string, q metadata.VolumeQuery) ([]openami.Volume, error) {
	limit := max(q.Limit, 0)
	var list []openami.Volume
	for _, ids := range splitList(sortedUnique(q.IDs)) {
		if len(ids) > 0 && q.After != "" && ids[len(ids)-1] <= q.After {
			continue
		}
		var b strings.Builder
		args := []any{region}
		b.WriteString(`region = ?`)
		if q.AccountID != "" {
			b.WriteString(` AND account_id = ?`)
			args = append(args, q.AccountID)
		}
		if q.After != "" {
			b.WriteString(` AND id > ?`)
			args = append(args, q.After)
		}
		if len(ids) > 0 {
			b.WriteString(` AND id IN (` + placeholders(len(ids)) + `)`)
			args = appendStrings(args, ids)
		}
		b.WriteString(` ORDER BY id`)
		query, args := limitClause(b.String(), args, limit-len(list))
		page, err := vs.query(query, args)
		if err != nil {
			return nil, fmt.Errorf("sqldb: list volumes: %w", err)
		}
		list = append(list, page...)
		if limit > 0 && len(list) >= limit {
			break
		}
	}
	return list, nil
}

func (vs volumes) PutBlock(volumeID string, b metadata.BlockRef) error {
	return vs.blocks.put(volumeID, b)
}

func (vs volumes) Block(volumeID string, index int64) (metadata.BlockRef, bool, error) {
	return vs.blocks.get(volumeID, index)
}

func (vs volumes) Blocks(volumeID string, after int64, limit int) ([]metadata.BlockRef, error) {
	return vs.blocks.list(volumeID, after, limit)
}

func (vs volumes) DeleteBlocks(volumeID string) error {
	return vs.blocks.deleteAll(volumeID)
}
