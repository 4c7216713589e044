package identity

import (
	"context"
	"errors"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/sshkey"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// keyPairQuota is AWS's default limit of key pairs per account and region.
const keyPairQuota = 5000

// KeyPairView is a key pair with its tags, as Describe and Create return it.
type KeyPairView struct {
	openami.KeyPair
	Tags []openami.Tag
}

// NewKeyPair is a key pair created by CreateKeyPair, with the private key
// that is shown once.
type NewKeyPair struct {
	KeyPairView
	PrivateKey string
}

// CreateKeyPairInput are CreateKeyPair's parameters.
type CreateKeyPairInput struct {
	Name   string
	Type   openami.KeyType // "" means rsa
	Format string          // "pem" (default) or "ppk"
	Tags   []openami.Tag   // from TagSpecifications of type key-pair
}

// CreateKeyPair generates a key pair, records its public half and returns
// the private half. Duplicate if the caller has a key pair of that name in
// the region; InvalidParameter for a bad name, type or format.
func (s *Accounts) CreateKeyPair(ctx context.Context, p openami.Principal, in CreateKeyPairInput) (NewKeyPair, error) {
	if in.Type == "" {
		in.Type = openami.KeyTypeRSA
	}
	if in.Format == "" {
		in.Format = "pem"
	}
	if err := validateKeyName(in.Name); err != nil {
		return NewKeyPair{}, err
	}
	if in.Type != openami.KeyTypeRSA && in.Type != openami.KeyTypeED25519 {
		return NewKeyPair{}, param.Invalid("KeyType", string(in.Type), "Valid values are: rsa, ed25519.")
	}
	if in.Format != "pem" && in.Format != "ppk" {
		return NewKeyPair{}, param.Invalid("KeyFormat", in.Format, "Valid values are: pem, ppk.")
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return NewKeyPair{}, err
	}
	priv, pub, fp, err := sshkey.Generate(in.Type, in.Format)
	if err != nil {
		return NewKeyPair{}, err
	}
	kp, err := s.storeKeyPair(ctx, p, openami.KeyPair{Name: in.Name, Type: in.Type, Fingerprint: fp, PublicKey: pub}, in.Tags)
	return NewKeyPair{KeyPairView: kp, PrivateKey: priv}, err
}

// ImportKeyPair records a key pair from its public key material (already
// base64-decoded). Malformed with resource key-pair if the material is not
// a supported public key; Duplicate if the name is taken.
func (s *Accounts) ImportKeyPair(ctx context.Context, p openami.Principal, name string, material []byte, tags []openami.Tag) (KeyPairView, error) {
	if err := validateKeyName(name); err != nil {
		return KeyPairView{}, err
	}
	if err := tagset.Validate(tags); err != nil {
		return KeyPairView{}, err
	}
	typ, pub, fp, err := sshkey.ParsePublic(material)
	if err != nil {
		var e *openami.Error
		if errors.As(err, &e) && e.Class != openami.Internal {
			return KeyPairView{}, openami.Errorf(openami.Malformed, openami.ResourceKeyPair, "%s", e.Message)
		}
		return KeyPairView{}, err
	}
	return s.storeKeyPair(ctx, p, openami.KeyPair{Name: name, Type: typ, Fingerprint: fp, PublicKey: pub}, tags)
}

func (s *Accounts) storeKeyPair(ctx context.Context, p openami.Principal, kp openami.KeyPair, tags []openami.Tag) (KeyPairView, error) {
	kp.ID = ids.New("key")
	kp.Region = p.Region
	kp.AccountID = p.AccountID
	kp.CreatedAt = s.nowUTC()
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		existing, err := tx.KeyPairs().List(p.Region, p.AccountID)
		if err != nil {
			return err
		}
		for _, k := range existing {
			if k.Name == kp.Name {
				return openami.Errorf(openami.Duplicate, openami.ResourceKeyPair, "The keypair '%s' already exists.", kp.Name)
			}
		}
		if len(existing) >= keyPairQuota {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceKeyPair, "Maximum of %d keypairs reached.", keyPairQuota)
		}
		if err := tx.KeyPairs().Create(kp); err != nil {
			return err
		}
		if len(tags) > 0 {
			return tx.Tags().Set(p.Region, p.AccountID, kp.ID, openami.ResourceKeyPair, tags)
		}
		return nil
	})
	if err != nil {
		return KeyPairView{}, err
	}
	return KeyPairView{KeyPair: kp, Tags: tagset.Sorted(tags)}, nil
}

// validateKeyName checks AWS's rule: 1–255 ASCII characters.
func validateKeyName(name string) error {
	if name == "" {
		return param.Missing("KeyName")
	}
	if len(name) > 255 {
		return param.TooLong("KeyName", name, "Length exceeds maximum of 255 ASCII characters.")
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c > 0x7e {
			return param.Invalid("KeyName", name, "Character sets beyond ASCII are not supported.")
		}
	}
	return nil
}

// The attributes of a key pair that DescribeKeyPairs' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrKeyPairID          filter.Attr = "keyPairID"
	AttrKeyPairFingerprint filter.Attr = "keyPairFingerprint"
	AttrKeyPairName        filter.Attr = "keyPairName"
	AttrKeyPairType        filter.Attr = "keyPairType"
)

// KeyPairAttrs are the attributes DescribeKeyPairs filters by. Read-only.
var KeyPairAttrs = []filter.Attr{AttrKeyPairID, AttrKeyPairFingerprint, AttrKeyPairName, AttrKeyPairType}

// DescribeKeyPairs returns the caller's key pairs in the region: all, or
// those named by name or id (any unknown one is NotFound), narrowed by
// filters, ordered by name.
func (s *Accounts) DescribeKeyPairs(ctx context.Context, p openami.Principal, names, keyIDs []string, filters []filter.Filter) ([]KeyPairView, error) {
	fs, err := filter.Compile(filters, KeyPairAttrs...)
	if err != nil {
		return nil, err
	}
	for _, id := range keyIDs {
		if !ids.Valid("key", id) {
			return nil, openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair ID '%s' does not exist", id)
		}
	}
	var all []openami.KeyPair
	var tags map[string][]openami.Tag
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if all, err = tx.KeyPairs().List(p.Region, p.AccountID); err != nil {
			return err
		}
		rids := make([]string, len(all))
		for i, k := range all {
			rids[i] = k.ID
		}
		tags, err = tx.Tags().Of(p.Region, p.AccountID, rids)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := requireAll(names, all, func(k openami.KeyPair) string { return k.Name }, "The key pair '%s' does not exist"); err != nil {
		return nil, err
	}
	if err := requireAll(keyIDs, all, func(k openami.KeyPair) string { return k.ID }, "The key pair ID '%s' does not exist"); err != nil {
		return nil, err
	}
	var out []KeyPairView
	for _, k := range all {
		if len(names) > 0 && !contains(names, k.Name) || len(keyIDs) > 0 && !contains(keyIDs, k.ID) {
			continue
		}
		kt := tags[k.ID]
		match := fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrKeyPairID:
				return []string{k.ID}
			case AttrKeyPairFingerprint:
				return []string{k.Fingerprint}
			case AttrKeyPairName:
				return []string{k.Name}
			case AttrKeyPairType:
				return []string{string(k.Type)}
			}
			return nil
		}, tagset.Map(kt))
		if match {
			out = append(out, KeyPairView{KeyPair: k, Tags: kt})
		}
	}
	return out, nil
}

// requireAll returns a NotFound error for the first wanted value that no
// key pair has.
func requireAll(wanted []string, all []openami.KeyPair, key func(openami.KeyPair) string, msg string) error {
	if len(wanted) == 0 {
		return nil
	}
	have := make(map[string]bool, len(all))
	for _, k := range all {
		have[key(k)] = true
	}
	var missing []string
	for _, w := range wanted {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return openami.Errorf(openami.NotFound, openami.ResourceKeyPair, msg, strings.Join(missing, ", "))
	}
	return nil
}

// DeleteKeyPair deletes the caller's key pair named by name or by id (one
// of them is required, not both) and returns its id. As on AWS, deleting a
// name that does not exist succeeds and returns ""; an unknown id is
// NotFound.
func (s *Accounts) DeleteKeyPair(ctx context.Context, p openami.Principal, name, id string) (string, error) {
	if name == "" && id == "" {
		return "", param.MissingEither("KeyName", "KeyPairID")
	}
	if id != "" && !ids.Valid("key", id) {
		return "", openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair ID '%s' does not exist", id)
	}
	var deleted string
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		all, err := tx.KeyPairs().List(p.Region, p.AccountID)
		if err != nil {
			return err
		}
		for _, k := range all {
			if id != "" && k.ID == id && (name == "" || k.Name == name) || id == "" && k.Name == name {
				deleted = k.ID
				return tx.KeyPairs().Delete(p.Region, p.AccountID, k.ID)
			}
		}
		if id != "" {
			return openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair ID '%s' does not exist", id)
		}
		return nil
	})
	return deleted, err
}
