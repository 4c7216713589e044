package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/openami/openami"
)

type accounts struct{ t *tx }

func (a accounts) Create(acc openami.Account) error {
	n, err := a.t.execN(`INSERT INTO accounts (id, name, status, admin, created_at, organization_arn, ou_arns) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		acc.ID, acc.Name, string(acc.Status), acc.Admin, nanos(acc.CreatedAt), acc.OrganizationArn, strings.Join(acc.OUArns, " "))
	if err != nil {
		if a.t.d.unique(err) {
			return openami.Errorf(openami.Duplicate, openami.ResourceAccount, "The account '%s' already exists", acc.ID)
		}
		return fmt.Errorf("sqldb: create account: %w", err)
	}
	if n > 0 {
		return nil
	}
	// Tell which of the two unique columns clashed.
	var id string
	err = a.t.get(`SELECT id FROM accounts WHERE id = ?`, []any{acc.ID}, &id)
	switch {
	case err == nil:
		return openami.Errorf(openami.Duplicate, openami.ResourceAccount, "The account '%s' already exists", acc.ID)
	case errors.Is(err, sql.ErrNoRows):
		return openami.Errorf(openami.Duplicate, openami.ResourceAccount, "An account named '%s' already exists", acc.Name)
	default:
		return fmt.Errorf("sqldb: create account: %w", err)
	}
}

func accountNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceAccount, "The account '%s' does not exist", id)
}

const accountColumns = `id, name, status, admin, created_at, organization_arn, ou_arns`

func scanAccount(sc interface{ Scan(...any) error }) (openami.Account, error) {
	var (
		a      openami.Account
		status string
		at     int64
		ous    string
	)
	if err := sc.Scan(&a.ID, &a.Name, &status, &a.Admin, &at, &a.OrganizationArn, &ous); err != nil {
		return openami.Account{}, err
	}
	if ous != "" {
		a.OUArns = strings.Fields(ous)
	}
	a.Status = openami.AccountStatus(status)
	a.CreatedAt = fromNanos(at)
	return a, nil
}

func (a accounts) Get(id string) (openami.Account, error) {
	var acc openami.Account
	found := false
	err := a.t.each(`SELECT `+accountColumns+` FROM accounts WHERE id = ?`, []any{id}, func(r *sql.Rows) error {
		var err error
		acc, err = scanAccount(r)
		found = true
		return err
	})
	if err != nil {
		return openami.Account{}, fmt.Errorf("sqldb: get account: %w", err)
	}
	if !found {
		return openami.Account{}, accountNotFound(id)
	}
	return acc, nil
}

func (a accounts) List() ([]openami.Account, error) {
	var list []openami.Account
	err := a.t.each(`SELECT `+accountColumns+` FROM accounts ORDER BY id`, nil, func(r *sql.Rows) error {
		acc, err := scanAccount(r)
		list = append(list, acc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list accounts: %w", err)
	}
	return list, nil
}

func (a accounts) SetStatus(id string, status openami.AccountStatus) error {
	n, err := a.t.execN(`UPDATE accounts SET status = ? WHERE id = ?`, string(status), id)
	if err != nil {
		return fmt.Errorf("sqldb: set account status: %w", err)
	}
	if n == 0 {
		return accountNotFound(id)
	}
	return nil
}

func (a accounts) SetOrganization(id, org string, ous []string) error {
	n, err := a.t.execN(`UPDATE accounts SET organization_arn = ?, ou_arns = ? WHERE id = ?`, org, strings.Join(ous, " "), id)
	if err != nil {
		return fmt.Errorf("sqldb: set organization: %w", err)
	}
	if n == 0 {
		return accountNotFound(id)
	}
	return nil
}

func (a accounts) Delete(id string) error {
	// Children first: access_keys and signing_certificates reference
	// accounts.
	if _, err := a.t.exec(`DELETE FROM signing_certificates WHERE account_id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete account: signing certificates: %w", err)
	}
	if _, err := a.t.exec(`DELETE FROM access_keys WHERE account_id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete account: access keys: %w", err)
	}
	n, err := a.t.execN(`DELETE FROM accounts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete account: %w", err)
	}
	if n == 0 {
		return accountNotFound(id)
	}
	for _, table := range []string{"key_pairs", "tags"} {
		if _, err := a.t.exec(`DELETE FROM `+table+` WHERE account_id = ?`, id); err != nil {
			return fmt.Errorf("sqldb: delete account: %s: %w", table, err)
		}
	}
	// Snapshots, volumes and images with their child rows, children first; and the
	// permissions other accounts granted it, so that an account created
	// later with the same id does not inherit them.
	for _, del := range []struct {
		what, stmt string
		args       []any
	}{
		{"snapshot permissions", `DELETE FROM snapshot_permissions
WHERE account_id = ? OR snapshot_id IN (SELECT id FROM snapshots WHERE account_id = ?)`, []any{id, id}},
		{"snapshot blocks", `DELETE FROM snapshot_blocks WHERE snapshot_id IN (SELECT id FROM snapshots WHERE account_id = ?)`, []any{id}},
		{"snapshots", `DELETE FROM snapshots WHERE account_id = ?`, []any{id}},
		{"volume blocks", `DELETE FROM volume_blocks WHERE volume_id IN (SELECT id FROM volumes WHERE account_id = ?)`, []any{id}},
		{"volumes", `DELETE FROM volumes WHERE account_id = ?`, []any{id}},
		// Images likewise, and the launch permissions naming the account.
		{"launch permissions", `DELETE FROM image_permissions
WHERE kind = 'user' AND value = ? OR image_id IN (SELECT id FROM images WHERE account_id = ?)`, []any{id, id}},
		{"image snapshots", `DELETE FROM image_snapshots WHERE image_id IN (SELECT id FROM images WHERE account_id = ?)`, []any{id}},
		{"images", `DELETE FROM images WHERE account_id = ?`, []any{id}},
		// KMS aliases and grants before the keys they name, and the
		// grants other accounts' keys gave the account.
		{"kms aliases", `DELETE FROM kms_aliases WHERE account_id = ?`, []any{id}},
		{"kms grants", `DELETE FROM kms_grants WHERE account_id = ? OR grantee_account = ?`, []any{id, id}},
		{"kms keys", `DELETE FROM kms_keys WHERE account_id = ?`, []any{id}},
		{"security groups", `DELETE FROM security_groups WHERE account_id = ?`, []any{id}},
		{"subnets", `DELETE FROM subnets WHERE account_id = ?`, []any{id}},
		{"vpcs", `DELETE FROM vpcs WHERE account_id = ?`, []any{id}},
		{"launch template versions", `DELETE FROM launch_template_versions
WHERE template_id IN (SELECT id FROM launch_templates WHERE account_id = ?)`, []any{id}},
		{"launch templates", `DELETE FROM launch_templates WHERE account_id = ?`, []any{id}},
		{"parameters", `DELETE FROM parameters WHERE account_id = ?`, []any{id}},
		{"auto scaling groups", `DELETE FROM autoscaling_groups WHERE account_id = ?`, []any{id}},
	} {
		if _, err := a.t.exec(del.stmt, del.args...); err != nil {
			return fmt.Errorf("sqldb: delete account: %s: %w", del.what, err)
		}
	}
	return nil
}

func (a accounts) CreateKey(k openami.AccessKey) error {
	// Check the account first rather than let the foreign key fail: a
	// constraint error would abort a PostgreSQL transaction.
	var one int
	err := a.t.get(`SELECT 1 FROM accounts WHERE id = ?`, []any{k.AccountID}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return accountNotFound(k.AccountID)
	}
	if err != nil {
		return fmt.Errorf("sqldb: create access key: %w", err)
	}
	secret := k.SealedSecret
	if secret == nil {
		secret = []byte{}
	}
	n, err := a.t.execN(`INSERT INTO access_keys (id, account_id, sealed_secret, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		k.ID, k.AccountID, secret, nanos(k.CreatedAt))
	if err != nil && !a.t.d.unique(err) {
		return fmt.Errorf("sqldb: create access key: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceAccessKey, "The access key '%s' already exists", k.ID)
	}
	return nil
}

func keyNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceAccessKey, "The access key '%s' does not exist", id)
}

const keyColumns = `id, account_id, sealed_secret, created_at`

func scanKey(sc interface{ Scan(...any) error }) (openami.AccessKey, error) {
	var (
		k  openami.AccessKey
		at int64
	)
	if err := sc.Scan(&k.ID, &k.AccountID, &k.SealedSecret, &at); err != nil {
		return openami.AccessKey{}, err
	}
	k.CreatedAt = fromNanos(at)
	return k, nil
}

func (a accounts) Key(id string) (openami.AccessKey, error) {
	var k openami.AccessKey
	found := false
	err := a.t.each(`SELECT `+keyColumns+` FROM access_keys WHERE id = ?`, []any{id}, func(r *sql.Rows) error {
		var err error
		k, err = scanKey(r)
		found = true
		return err
	})
	if err != nil {
		return openami.AccessKey{}, fmt.Errorf("sqldb: get access key: %w", err)
	}
	if !found {
		return openami.AccessKey{}, keyNotFound(id)
	}
	return k, nil
}

func (a accounts) Keys(accountID string) ([]openami.AccessKey, error) {
	var list []openami.AccessKey
	err := a.t.each(`SELECT `+keyColumns+` FROM access_keys WHERE account_id = ? ORDER BY id`, []any{accountID}, func(r *sql.Rows) error {
		k, err := scanKey(r)
		list = append(list, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list access keys: %w", err)
	}
	return list, nil
}

func (a accounts) DeleteKey(id string) error {
	n, err := a.t.execN(`DELETE FROM access_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete access key: %w", err)
	}
	if n == 0 {
		return keyNotFound(id)
	}
	return nil
}
