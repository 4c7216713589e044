package sqldb

import (
	"database/sql"
	"fmt"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// kmsGrants keeps each KMS grant in one row of kms_grants: the columns
// listings select on, and its operations and constraints as JSON in doc.
type kmsGrants struct{ t *tx }

func grantNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceKMSGrant, "Grant %s does not exist", id)
}

// kmsGrantDoc is the part of a grant kept as JSON.
type kmsGrantDoc struct {
	Operations []string          `json:"operations"`
	Subset     map[string]string `json:"subset,omitempty"`
	Equals     map[string]string `json:"equals,omitempty"`
}

const grantColumns = `region, id, key_id, account_id, name, grantee_principal, grantee_account, retiring_principal, created_at, doc`

func scanGrant(sc scanner) (openami.Grant, error) {
	var (
		g       openami.Grant
		created int64
		doc     []byte
	)
	if err := sc.Scan(&g.Region, &g.ID, &g.KeyID, &g.AccountID, &g.Name, &g.GranteePrincipal, &g.GranteeAccount,
		&g.RetiringPrincipal, &created, &doc); err != nil {
		return openami.Grant{}, err
	}
	var d kmsGrantDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return openami.Grant{}, fmt.Errorf("decode grant %s: %w", g.ID, err)
	}
	g.CreatedAt, g.Operations = fromNanos(created), d.Operations
	g.Constraints = openami.GrantConstraints{EncryptionContextSubset: d.Subset, EncryptionContextEquals: d.Equals}
	return g, nil
}

func (gs kmsGrants) Create(g openami.Grant) error {
	// Check the key first rather than let the foreign key fail, which
	// would abort a PostgreSQL transaction.
	ok, err := kmsKeys(gs).keyExists(g.Region, g.KeyID)
	if err != nil {
		return fmt.Errorf("sqldb: create grant: %w", err)
	}
	if !ok {
		return kmsKeyNotFound(g.KeyID)
	}
	doc, err := json.Marshal(kmsGrantDoc{Operations: g.Operations,
		Subset: g.Constraints.EncryptionContextSubset, Equals: g.Constraints.EncryptionContextEquals})
	if err != nil {
		return fmt.Errorf("sqldb: encode grant %s: %w", g.ID, err)
	}
	n, err := gs.t.execN(`INSERT INTO kms_grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		g.Region, g.ID, g.KeyID, g.AccountID, g.Name, g.GranteePrincipal, g.GranteeAccount, g.RetiringPrincipal,
		nanos(g.CreatedAt), string(doc))
	if err != nil && !gs.t.d.unique(err) {
		return fmt.Errorf("sqldb: create grant: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceKMSGrant, "The grant id '%s' already exists", g.ID)
	}
	return nil
}

func (gs kmsGrants) Get(region, id string) (openami.Grant, error) {
	list, err := gs.List(region, metadata.GrantQuery{ID: id, Limit: 1})
	if err != nil {
		return openami.Grant{}, err
	}
	if len(list) == 0 {
		return openami.Grant{}, grantNotFound(id)
	}
	return list[0], nil
}

func (gs kmsGrants) List(region string, q metadata.GrantQuery) ([]openami.Grant, error) {
	where, args := `region = ? AND id > ?`, []any{region, q.After}
	for _, c := range []struct{ column, value string }{
		{"key_id", q.KeyID},
		{"id", q.ID},
		{"name", q.Name},
		{"grantee_principal", q.GranteePrincipal},
		{"grantee_account", q.GranteeAccount},
		{"retiring_principal", q.RetiringPrincipal},
	} {
		if c.value != "" {
			where, args = where+` AND `+c.column+` = ?`, append(args, c.value)
		}
	}
	query, args := limitClause(`SELECT `+grantColumns+` FROM kms_grants WHERE `+where+` ORDER BY id`, args, q.Limit)
	list := []openami.Grant{}
	err := gs.t.each(query, args, func(r *sql.Rows) error {
		g, err := scanGrant(r)
		list = append(list, g)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list grants: %w", err)
	}
	return list, nil
}

func (gs kmsGrants) Delete(region, id string) error {
	n, err := gs.t.execN(`DELETE FROM kms_grants WHERE id = ? AND region = ?`, id, region)
	if err != nil {
		return fmt.Errorf("sqldb: delete grant: %w", err)
	}
	if n == 0 {
		return grantNotFound(id)
	}
	return nil
}
