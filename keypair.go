package openami

import "time"

// KeyType is the algorithm of a key pair.
type KeyType string

// Key types.
const (
	KeyTypeRSA     KeyType = "rsa"
	KeyTypeED25519 KeyType = "ed25519"
)

// KeyPair is an SSH key pair known to a region of an account. openami keeps
// only the public half; for a created pair the private half is returned once
// and then forgotten, as on AWS.
type KeyPair struct {
	ID          string // key-0123456789abcdef0
	Region      string
	AccountID   string
	Name        string
	Type        KeyType
	Fingerprint string
	// PublicKey is the public key in OpenSSH authorized_keys form.
	PublicKey string
	CreatedAt time.Time
}
