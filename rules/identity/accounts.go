package identity

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
)

// Credentials are a new access key with its secret, shown once.
type Credentials struct {
	AccountID       string
	AccessKeyID     string
	SecretAccessKey string
}

// CreateAccount creates an account with one access key and returns the
// key's credentials. name must be 1–64 printable characters and unique
// (Duplicate otherwise).
func (s *Accounts) CreateAccount(ctx context.Context, name string, admin bool) (openami.Account, Credentials, error) {
	if name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsAny(name, "\x00\n\r\t") {
		return openami.Account{}, Credentials{}, openami.Errorf(openami.InvalidParameter, openami.ResourceAccount, "account name must be 1 to 64 printable characters")
	}
	acct := openami.Account{Name: name, Status: openami.AccountActive, Admin: admin, CreatedAt: s.nowUTC()}
	var creds Credentials
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		// A random 12-digit id collides rarely; retry a few times when it does.
		for try := 0; ; try++ {
			acct.ID = ids.NewAccountID()
			_, err := tx.Accounts().Get(acct.ID)
			if errors.Is(err, openami.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			if try == 10 {
				return errors.New("identity: no free account id")
			}
		}
		if err := tx.Accounts().Create(acct); err != nil {
			return err
		}
		var err error
		creds, err = s.newAccessKey(tx, acct.ID)
		return err
	})
	if err != nil {
		return openami.Account{}, Credentials{}, err
	}
	return acct, creds, nil
}

// newAccessKey records a new access key for the account and returns its
// credentials.
func (s *Accounts) newAccessKey(tx metadata.Tx, accountID string) (Credentials, error) {
	c := Credentials{AccountID: accountID, AccessKeyID: ids.NewAccessKeyID(), SecretAccessKey: ids.NewSecretAccessKey()}
	err := tx.Accounts().CreateKey(openami.AccessKey{
		ID:           c.AccessKeyID,
		AccountID:    accountID,
		SealedSecret: s.seal.Seal([]byte(c.SecretAccessKey), []byte(c.AccessKeyID)),
		CreatedAt:    s.nowUTC(),
	})
	return c, err
}

// ResolveAccount returns the account whose id or name is ref. NotFound if
// there is none.
func (s *Accounts) ResolveAccount(ctx context.Context, ref string) (openami.Account, error) {
	var out openami.Account
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		a, err := tx.Accounts().Get(ref)
		if err == nil {
			out = a
			return nil
		}
		if !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		all, err := tx.Accounts().List()
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.Name == ref {
				out = a
				return nil
			}
		}
		return openami.Errorf(openami.NotFound, openami.ResourceAccount, "no account with id or name %q", ref)
	})
	return out, err
}

// ListAccounts returns every account, ordered by id.
func (s *Accounts) ListAccounts(ctx context.Context) ([]openami.Account, error) {
	var out []openami.Account
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		out, err = tx.Accounts().List()
		return err
	})
	return out, err
}

// SetAccountStatus enables or disables the account named by id or name. A
// disabled account's keys stop authenticating at once.
func (s *Accounts) SetAccountStatus(ctx context.Context, ref string, status openami.AccountStatus) (openami.Account, error) {
	a, err := s.ResolveAccount(ctx, ref)
	if err != nil {
		return a, err
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		return tx.Accounts().SetStatus(a.ID, status)
	})
	a.Status = status
	return a, err
}

// DeleteAccount deletes the account named by id or name, with its access
// keys and everything it owns. The administrator account cannot be
// deleted (IncorrectState).
func (s *Accounts) DeleteAccount(ctx context.Context, ref string) (openami.Account, error) {
	a, err := s.ResolveAccount(ctx, ref)
	if err != nil {
		return a, err
	}
	if a.Admin {
		return a, openami.Errorf(openami.IncorrectState, openami.ResourceAccount, "the administrator account %s cannot be deleted", a.ID)
	}
	return a, s.store.Update(ctx, func(tx metadata.Tx) error { return tx.Accounts().Delete(a.ID) })
}

// CreateAccessKey adds an access key to the account named by id or name.
func (s *Accounts) CreateAccessKey(ctx context.Context, ref string) (Credentials, error) {
	a, err := s.ResolveAccount(ctx, ref)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		var err error
		c, err = s.newAccessKey(tx, a.ID)
		return err
	})
	return c, err
}

// ListAccessKeys returns the access keys of the account named by id or
// name. Their secrets are not returned.
func (s *Accounts) ListAccessKeys(ctx context.Context, ref string) ([]openami.AccessKey, error) {
	a, err := s.ResolveAccount(ctx, ref)
	if err != nil {
		return nil, err
	}
	var keys []openami.AccessKey
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		keys, err = tx.Accounts().Keys(a.ID)
		return err
	})
	for i := range keys {
		keys[i].SealedSecret = nil
	}
	return keys, err
}

// DeleteAccessKey deletes an access key. NotFound if there is none.
func (s *Accounts) DeleteAccessKey(ctx context.Context, accessKeyID string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error { return tx.Accounts().DeleteKey(accessKeyID) })
}

// Authenticate returns the principal an access key stands for, without
// its region, and the key's secret for verifying the request's signature.
// An unknown key, or a key of a disabled account, is NotFound with
// resource type access-key: the API answers both as an unknown key, so a
// disabled account's keys reveal nothing.
func (s *Accounts) Authenticate(ctx context.Context, accessKeyID string) (openami.Principal, string, error) {
	var key openami.AccessKey
	var acct openami.Account
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if key, err = tx.Accounts().Key(accessKeyID); err != nil {
			return err
		}
		acct, err = tx.Accounts().Get(key.AccountID)
		return err
	})
	if errors.Is(err, openami.ErrNotFound) || err == nil && acct.Status != openami.AccountActive {
		return openami.Principal{}, "", openami.Errorf(openami.NotFound, openami.ResourceAccessKey, "AWS was not able to validate the provided access credentials")
	}
	if err != nil {
		return openami.Principal{}, "", err
	}
	secret, err := s.seal.Open(key.SealedSecret, []byte(key.ID))
	if err != nil {
		return openami.Principal{}, "", err
	}
	return openami.Principal{AccountID: acct.ID, AccessKeyID: key.ID, Admin: acct.Admin, Orgs: acct.Orgs()}, string(secret), nil
}

// EnsureAdmin returns the administrator account, creating it with one
// access key on first start. created reports whether it did; only then are
// creds filled in, since a secret is shown once.
func (s *Accounts) EnsureAdmin(ctx context.Context) (acct openami.Account, creds Credentials, created bool, err error) {
	all, err := s.ListAccounts(ctx)
	if err != nil {
		return acct, creds, false, err
	}
	for _, a := range all {
		if a.Admin {
			return a, Credentials{}, false, nil
		}
	}
	acct, creds, err = s.CreateAccount(ctx, "admin", true)
	if errors.Is(err, openami.ErrDuplicate) {
		// Another process created it first.
		acct, err = s.ResolveAccount(ctx, "admin")
		return acct, Credentials{}, false, err
	}
	return acct, creds, err == nil, err
}

// JoinOrganization declares that the account named by id or name belongs to
// an organization and, optionally, to organizational units (outermost
// first). Launch permissions granted to the organization or any of the OUs
// then apply to it. An empty organization removes the membership.
func (s *Accounts) JoinOrganization(ctx context.Context, ref, organizationArn string, ouArns []string) (openami.Account, error) {
	a, err := s.ResolveAccount(ctx, ref)
	if err != nil {
		return a, err
	}
	if organizationArn == "" && len(ouArns) > 0 {
		return a, openami.Errorf(openami.InvalidParameter, openami.ResourceAccount, "organizational units need an organization")
	}
	if organizationArn != "" && !IsOrganizationArn(organizationArn) {
		return a, openami.Errorf(openami.InvalidParameter, openami.ResourceAccount, "invalid organization ARN %q (want arn:aws:organizations::ACCOUNT:organization/o-…)", organizationArn)
	}
	for _, ou := range ouArns {
		if !IsOUArn(ou) {
			return a, openami.Errorf(openami.InvalidParameter, openami.ResourceAccount, "invalid organizational unit ARN %q (want arn:aws:organizations::ACCOUNT:ou/o-…/ou-…)", ou)
		}
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		return tx.Accounts().SetOrganization(a.ID, organizationArn, ouArns)
	})
	a.OrganizationArn, a.OUArns = organizationArn, ouArns
	return a, err
}
