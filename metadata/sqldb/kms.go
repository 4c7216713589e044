package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// kmsKeys keeps each KMS key in one row: the columns listings select on, the
// sealed key material, and the rest of openami.Key as JSON in doc. Aliases
// are rows of kms_aliases.
type kmsKeys struct{ t *tx }

func kmsKeyNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Key '%s' does not exist", id)
}

func aliasNotFound(region, accountID, name string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "Alias %s is not found.", openami.AliasARN(region, accountID, name))
}

// kmsKeyDoc is the part of a key kept as JSON.
type kmsKeyDoc struct {
	Description       string        `json:"description,omitempty"`
	Manager           string        `json:"manager,omitempty"`
	Usage             string        `json:"usage,omitempty"`
	Spec              string        `json:"spec,omitempty"`
	Policy            string        `json:"policy,omitempty"`
	Tags              []openami.Tag `json:"tags,omitempty"`
	PendingWindowDays int           `json:"pendingWindowDays,omitempty"`
}

func encodeKMSKey(k openami.Key) (string, error) {
	b, err := json.Marshal(kmsKeyDoc{Description: k.Description, Manager: k.Manager, Usage: k.Usage, Spec: k.Spec, Policy: k.Policy,
		Tags: k.Tags, PendingWindowDays: k.PendingWindowDays})
	if err != nil {
		return "", fmt.Errorf("sqldb: encode key %s: %w", k.ID, err)
	}
	return string(b), nil
}

const kmsKeyColumns = `region, account_id, id, state, deletion_date, created_at, sealed_material, doc`

func scanKMSKey(sc scanner) (openami.Key, error) {
	var (
		k                 openami.Key
		state             string
		deletion, created int64
		doc               []byte
	)
	if err := sc.Scan(&k.Region, &k.AccountID, &k.ID, &state, &deletion, &created, &k.SealedMaterial, &doc); err != nil {
		return openami.Key{}, err
	}
	if len(k.SealedMaterial) == 0 {
		k.SealedMaterial = nil // drivers differ on an empty blob
	}
	var d kmsKeyDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return openami.Key{}, fmt.Errorf("decode key %s: %w", k.ID, err)
	}
	k.State, k.DeletionDate, k.CreatedAt = openami.KeyState(state), fromNanos(deletion), fromNanos(created)
	k.Manager = d.Manager
	k.Description, k.Usage, k.Spec, k.Policy, k.Tags, k.PendingWindowDays = d.Description, d.Usage, d.Spec, d.Policy, d.Tags, d.PendingWindowDays
	return k, nil
}

func (ks kmsKeys) Create(k openami.Key) error {
	doc, err := encodeKMSKey(k)
	if err != nil {
		return err
	}
	material := k.SealedMaterial
	if material == nil {
		material = []byte{}
	}
	n, err := ks.t.execN(`INSERT INTO kms_keys (`+kmsKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		k.Region, k.AccountID, k.ID, string(k.State), nanos(k.DeletionDate), nanos(k.CreatedAt), material, doc)
	if err != nil && !ks.t.d.unique(err) {
		return fmt.Errorf("sqldb: create key: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceKMSKey, "The key id '%s' already exists", k.ID)
	}
	return nil
}

func (ks kmsKeys) query(where string, args []any, limit int) ([]openami.Key, error) {
	query, args := limitClause(`SELECT `+kmsKeyColumns+` FROM kms_keys WHERE `+where+` ORDER BY id`, args, limit)
	list := []openami.Key{}
	err := ks.t.each(query, args, func(r *sql.Rows) error {
		k, err := scanKMSKey(r)
		list = append(list, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list keys: %w", err)
	}
	return list, nil
}

func (ks kmsKeys) Get(region, id string) (openami.Key, error) {
	list, err := ks.query(`id = ? AND region = ?`, []any{id, region}, 1)
	if err != nil {
		return openami.Key{}, err
	}
	if len(list) == 0 {
		return openami.Key{}, kmsKeyNotFound(id)
	}
	return list[0], nil
}

func (ks kmsKeys) Update(k openami.Key) error {
	doc, err := encodeKMSKey(k)
	if err != nil {
		return err
	}
	n, err := ks.t.execN(`UPDATE kms_keys SET state = ?, deletion_date = ?, doc = ? WHERE id = ? AND region = ?`,
		string(k.State), nanos(k.DeletionDate), doc, k.ID, k.Region)
	if err != nil {
		return fmt.Errorf("sqldb: update key: %w", err)
	}
	if n == 0 {
		return kmsKeyNotFound(k.ID)
	}
	return nil
}

func (ks kmsKeys) Delete(region, id string) error {
	// Aliases and grants first: they reference the key.
	if _, err := ks.t.exec(`DELETE FROM kms_aliases WHERE target_key_id = ? AND region = ?`, id, region); err != nil {
		return fmt.Errorf("sqldb: delete key: aliases: %w", err)
	}
	if _, err := ks.t.exec(`DELETE FROM kms_grants WHERE key_id = ? AND region = ?`, id, region); err != nil {
		return fmt.Errorf("sqldb: delete key: grants: %w", err)
	}
	n, err := ks.t.execN(`DELETE FROM kms_keys WHERE id = ? AND region = ?`, id, region)
	if err != nil {
		return fmt.Errorf("sqldb: delete key: %w", err)
	}
	if n == 0 {
		return kmsKeyNotFound(id)
	}
	return nil
}

func (ks kmsKeys) Reseal(region, id string, sealed []byte) error {
	if sealed == nil {
		sealed = []byte{}
	}
	n, err := ks.t.execN(`UPDATE kms_keys SET sealed_material = ? WHERE id = ? AND region = ?`, sealed, id, region)
	if err != nil {
		return fmt.Errorf("sqldb: reseal key: %w", err)
	}
	if n == 0 {
		return kmsKeyNotFound(id)
	}
	return nil
}

func (ks kmsKeys) List(region, accountID, after string, limit int) ([]openami.Key, error) {
	return ks.query(`region = ? AND account_id = ? AND id > ?`, []any{region, accountID, after}, limit)
}

func (ks kmsKeys) Regions() ([]string, error) {
	out := []string{}
	err := ks.t.each(`SELECT DISTINCT region FROM kms_keys ORDER BY region`, nil, func(r *sql.Rows) error {
		var region string
		err := r.Scan(&region)
		out = append(out, region)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: key regions: %w", err)
	}
	return out, nil
}

func (ks kmsKeys) DueForDeletion(region string, t time.Time, limit int) ([]openami.Key, error) {
	return ks.query(`region = ? AND state = ? AND deletion_date <= ?`,
		[]any{region, string(openami.KeyPendingDeletion), nanos(t)}, limit)
}

// keyExists reports whether the key is in the region. It checks before an
// alias is written rather than let the foreign key fail, which would abort
// a PostgreSQL transaction.
func (ks kmsKeys) keyExists(region, id string) (bool, error) {
	var one int
	err := ks.t.get(`SELECT 1 FROM kms_keys WHERE id = ? AND region = ?`, []any{id, region}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (ks kmsKeys) CreateAlias(a openami.KeyAlias) error {
	ok, err := ks.keyExists(a.Region, a.TargetKeyID)
	if err != nil {
		return fmt.Errorf("sqldb: create alias: %w", err)
	}
	if !ok {
		return kmsKeyNotFound(a.TargetKeyID)
	}
	n, err := ks.t.execN(`INSERT INTO kms_aliases (region, account_id, name, target_key_id, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		a.Region, a.AccountID, a.Name, a.TargetKeyID, nanos(a.CreatedAt), nanos(a.UpdatedAt))
	if err != nil && !ks.t.d.unique(err) {
		return fmt.Errorf("sqldb: create alias: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceKMSAlias, "An alias with the name %s already exists", a.ARN())
	}
	return nil
}

const aliasColumns = `region, account_id, name, target_key_id, created_at, updated_at`

func scanAlias(sc scanner) (openami.KeyAlias, error) {
	var (
		a                openami.KeyAlias
		created, updated int64
	)
	if err := sc.Scan(&a.Region, &a.AccountID, &a.Name, &a.TargetKeyID, &created, &updated); err != nil {
		return openami.KeyAlias{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
	return a, nil
}

func (ks kmsKeys) Alias(region, accountID, name string) (openami.KeyAlias, error) {
	list, err := ks.aliases(`region = ? AND account_id = ? AND name = ?`, []any{region, accountID, name}, 1)
	if err != nil {
		return openami.KeyAlias{}, err
	}
	if len(list) == 0 {
		return openami.KeyAlias{}, aliasNotFound(region, accountID, name)
	}
	return list[0], nil
}

func (ks kmsKeys) UpdateAlias(a openami.KeyAlias) error {
	ok, err := ks.keyExists(a.Region, a.TargetKeyID)
	if err != nil {
		return fmt.Errorf("sqldb: update alias: %w", err)
	}
	if !ok {
		return kmsKeyNotFound(a.TargetKeyID)
	}
	n, err := ks.t.execN(`UPDATE kms_aliases SET target_key_id = ?, updated_at = ? WHERE region = ? AND account_id = ? AND name = ?`,
		a.TargetKeyID, nanos(a.UpdatedAt), a.Region, a.AccountID, a.Name)
	if err != nil {
		return fmt.Errorf("sqldb: update alias: %w", err)
	}
	if n == 0 {
		return aliasNotFound(a.Region, a.AccountID, a.Name)
	}
	return nil
}

func (ks kmsKeys) DeleteAlias(region, accountID, name string) error {
	n, err := ks.t.execN(`DELETE FROM kms_aliases WHERE region = ? AND account_id = ? AND name = ?`, region, accountID, name)
	if err != nil {
		return fmt.Errorf("sqldb: delete alias: %w", err)
	}
	if n == 0 {
		return aliasNotFound(region, accountID, name)
	}
	return nil
}

func (ks kmsKeys) Aliases(region, accountID string, q metadata.AliasQuery) ([]openami.KeyAlias, error) {
	where, args := `region = ? AND account_id = ? AND name > ?`, []any{region, accountID, q.After}
	if q.KeyID != "" {
		where, args = where+` AND target_key_id = ?`, append(args, q.KeyID)
	}
	return ks.aliases(where, args, q.Limit)
}

func (ks kmsKeys) aliases(where string, args []any, limit int) ([]openami.KeyAlias, error) {
	query, args := limitClause(`SELECT `+aliasColumns+` FROM kms_aliases WHERE `+where+` ORDER BY name`, args, limit)
	list := []openami.KeyAlias{}
	err := ks.t.each(query, args, func(r *sql.Rows) error {
		a, err := scanAlias(r)
		list = append(list, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list aliases: %w", err)
	}
	return list, nil
}
