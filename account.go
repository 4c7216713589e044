package openami

import "time"

// AccountStatus is the state of an account. Requests signed by a key of a
// disabled account are refused exactly as requests with an unknown key.
type AccountStatus string

// Account statuses.
const (
	AccountActive   AccountStatus = "active"
	AccountDisabled AccountStatus = "disabled"
)

// Account is a tenant: a 12-digit id that owns resources in every region.
type Account struct {
	ID        string
	Name      string
	Status    AccountStatus
	Admin     bool
	CreatedAt time.Time
	// OrganizationArn is the organization the account belongs to, if any,
	// and OUArns the organizational units it is in, innermost last with
	// every enclosing one before it. openami has no Organizations API: the
	// operator declares membership (openami account join). Launch
	// permissions granted to any of these ARNs apply to the account.
	OrganizationArn string
	OUArns          []string
}

// Orgs returns the organization and OU ARNs the account belongs to.
func (a Account) Orgs() []string {
	if a.OrganizationArn == "" {
		return nil
	}
	return append([]string{a.OrganizationArn}, a.OUArns...)
}

// AccessKey is a SigV4 credential of an account. The secret is needed in
// plaintext to verify signatures (SigV4 is an HMAC), so it cannot be hashed;
// at rest it is sealed with the server's master key (see internal/seal), and
// SealedSecret holds that ciphertext.
type AccessKey struct {
	ID           string
	AccountID    string
	SealedSecret []byte
	CreatedAt    time.Time
}
