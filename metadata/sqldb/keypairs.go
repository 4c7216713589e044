package sqldb

import (
	"database/sql"
	"fmt"

	"github.com/openami/openami"
)

type keyPairs struct{ t *tx }

func (kp keyPairs) Create(k openami.KeyPair) error {
	n, err := kp.t.execN(`INSERT INTO key_pairs (region, account_id, id, name, type, fingerprint, public_key, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		k.Region, k.AccountID, k.ID, k.Name, string(k.Type), k.Fingerprint, k.PublicKey, nanos(k.CreatedAt))
	if err != nil && !kp.t.d.unique(err) {
		return fmt.Errorf("sqldb: create key pair: %w", err)
	}
	if err == nil && n > 0 {
		return nil
	}
	// The name is what callers choose and AWS reports; a clashing id is a
	// one-in-2^68 accident of the id generator.
	var one int
	err = kp.t.get(`SELECT 1 FROM key_pairs WHERE region = ? AND account_id = ? AND name = ?`,
		[]any{k.Region, k.AccountID, k.Name}, &one)
	switch {
	case err == nil:
		return openami.Errorf(openami.Duplicate, openami.ResourceKeyPair, "The keypair '%s' already exists.", k.Name)
	case err == sql.ErrNoRows:
		return openami.Errorf(openami.Duplicate, openami.ResourceKeyPair, "The key pair id '%s' already exists", k.ID)
	default:
		return fmt.Errorf("sqldb: create key pair: %w", err)
	}
}

func (kp keyPairs) List(region, accountID string) ([]openami.KeyPair, error) {
	var list []openami.KeyPair
	err := kp.t.each(`SELECT id, name, type, fingerprint, public_key, created_at FROM key_pairs
WHERE region = ? AND account_id = ? ORDER BY name`, []any{region, accountID}, func(r *sql.Rows) error {
		k := openami.KeyPair{Region: region, AccountID: accountID}
		var (
			typ string
			at  int64
		)
		if err := r.Scan(&k.ID, &k.Name, &typ, &k.Fingerprint, &k.PublicKey, &at); err != nil {
			return err
		}
		k.Type = openami.KeyType(typ)
		k.CreatedAt = fromNanos(at)
		list = append(list, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list key pairs: %w", err)
	}
	return list, nil
}

func (kp keyPairs) Delete(region, accountID, id string) error {
	n, err := kp.t.execN(`DELETE FROM key_pairs WHERE region = ? AND account_id = ? AND id = ?`, region, accountID, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete key pair: %w", err)
	}
	if n == 0 {
		return openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair '%s' does not exist", id)
	}
	if _, err := kp.t.exec(`DELETE FROM tags WHERE region = ? AND account_id = ? AND resource_id = ?`, region, accountID, id); err != nil {
		return fmt.Errorf("sqldb: delete key pair: tags: %w", err)
	}
	return nil
}
