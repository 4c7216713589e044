package sqldb

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// instances keeps each instance in one row: the columns List and the
// runtime's passes select on, and the whole openami.Instance as JSON in
// doc, written together (as images).
type instances struct{ t *tx }

func instanceNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceInstance, "The instance ID '%s' does not exist", id)
}

const instanceColumns = `region, account_id, id, doc`

// encodeInstance returns the doc of an instance, its times in UTC (as
// images').
func encodeInstance(i openami.Instance) (string, error) {
	i.LaunchTime, i.TerminatedAt = utcTime(i.LaunchTime), utcTime(i.TerminatedAt)
	i.StateTransition.At = utcTime(i.StateTransition.At)
	i.BlockDevices = slices.Clone(i.BlockDevices)
	for k := range i.BlockDevices {
		i.BlockDevices[k].AttachTime = utcTime(i.BlockDevices[k].AttachTime)
	}
	b, err := json.Marshal(i, json.OmitZeroStructFields(true), json.FormatNilSliceAsNull(true), json.FormatNilMapAsNull(true))
	if err != nil {
		return "", fmt.Errorf("sqldb: encode instance %s: %w", i.ID, err)
	}
	return string(b), nil
}

func scanInstance(sc scanner) (openami.Instance, error) {
	var (
		region, acct, id string
		doc              []byte
	)
	if err := sc.Scan(&region, &acct, &id, &doc); err != nil {
		return openami.Instance{}, err
	}
	var i openami.Instance
	if err := json.Unmarshal(doc, &i); err != nil {
		return openami.Instance{}, fmt.Errorf("decode instance %s: %w", id, err)
	}
	i.ID, i.Region, i.AccountID = id, region, acct
	return i, nil
}

func (is instances) Create(i openami.Instance) error {
	doc, err := encodeInstance(i)
	if err != nil {
		return err
	}
	n, err := is.t.execN(`INSERT INTO instances (region, account_id, id, reservation_id, image_id, state, client_token, public_ip, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		i.Region, i.AccountID, i.ID, i.ReservationID, i.ImageID, string(i.State), i.ClientToken, i.PublicIP, doc)
	if err != nil && !is.t.d.unique(err) {
		return fmt.Errorf("sqldb: create instance: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceInstance, "The instance ID '%s' or its public address '%s' is taken", i.ID, i.PublicIP)
	}
	return nil
}

func (is instances) PublicIPs() ([]string, error) {
	ips := []string{}
	err := is.t.each(`SELECT public_ip FROM instances WHERE public_ip <> ''`, nil, func(r *sql.Rows) error {
		var ip string
		err := r.Scan(&ip)
		ips = append(ips, ip)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: public addresses: %w", err)
	}
	return ips, nil
}

func (is instances) PublicIPHeld(ip string) (bool, error) {
	held := false
	err := is.t.each(`SELECT 1 FROM instances WHERE public_ip = ?`, []any{ip}, func(*sql.Rows) error {
		held = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqldb: public address %s: %w", ip, err)
	}
	return held, nil
}

func (is instances) query(where string, args []any, limit int) ([]openami.Instance, error) {
	query, args := limitClause(`SELECT `+instanceColumns+` FROM instances WHERE `+where+` ORDER BY id`, args, limit)
	list := []openami.Instance{}
	err := is.t.each(query, args, func(r *sql.Rows) error {
		i, err := scanInstance(r)
		list = append(list, i)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list instances: %w", err)
	}
	return list, nil
}

func (is instances) Get(region, id string) (openami.Instance, error) {
	list, err := is.query(`id = ? AND region = ?`, []any{id, region}, 1)
	if err != nil {
		return openami.Instance{}, err
	}
	if len(list) == 0 {
		return openami.Instance{}, instanceNotFound(id)
	}
	return list[0], nil
}

func (is instances) ByClientToken(region, accountID, token string) ([]openami.Instance, error) {
	return is.query(`region = ? AND account_id = ? AND client_token = ?`, []any{region, accountID, token}, 0)
}

func (is instances) Update(i openami.Instance) error {
	doc, err := encodeInstance(i)
	if err != nil {
		return err
	}
	n, err := is.t.execN(`UPDATE instances SET reservation_id = ?, image_id = ?, state = ?, client_token = ?, public_ip = ?, doc = ?
WHERE id = ? AND region = ?`,
		i.ReservationID, i.ImageID, string(i.State), i.ClientToken, i.PublicIP, doc, i.ID, i.Region)
	if err != nil && is.t.d.unique(err) {
		return openami.Errorf(openami.Duplicate, openami.ResourceInstance, "The public address '%s' is another instance's", i.PublicIP)
	}
	if err != nil {
		return fmt.Errorf("sqldb: update instance: %w", err)
	}
	if n == 0 {
		return instanceNotFound(i.ID)
	}
	return nil
}

func (is instances) Delete(region, id string) error {
	n, err := is.t.execN(`DELETE FROM instances WHERE id = ? AND region = ?`, id, region)
	if err != nil {
		return fmt.Errorf("sqldb: delete instance: %w", err)
	}
	if n == 0 {
		return instanceNotFound(id)
	}
	return nil
}

func (is instances) List(region string, q metadata.InstanceQuery) ([]openami.Instance, error) {
	var b strings.Builder
	args := []any{region}
	b.WriteString(`region = ?`)
	if q.AccountID != "" {
		b.WriteString(` AND account_id = ?`)
		args = append(args, q.AccountID)
	}
	if len(q.IDs) > 0 {
		b.WriteString(` AND id IN (` + placeholders(len(q.IDs)) + `)`)
		args = appendStrings(args, q.IDs)
	}
	if len(q.States) > 0 {
		b.WriteString(` AND state IN (` + placeholders(len(q.States)) + `)`)
		for _, s := range q.States {
			args = append(args, string(s))
		}
	}
	if q.After != "" {
		b.WriteString(` AND id > ?`)
		args = append(args, q.After)
	}
	return is.query(b.String(), args, q.Limit)
}
