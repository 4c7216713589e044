// Package metadata defines openami's metadata store: the durable record of
// accounts, access keys and every resource's metadata (key pairs, tags and,
// later, images, snapshots, volumes and instances). Block data never goes
// here; it lives in the block store.
//
// A Store runs functions inside transactions. Update runs a read-write
// transaction and commits it only if the function returns nil; View runs a
// read-only one. Inside a transaction, Tx hands out one small interface per
// role (Accounts, KeyPairs, Tags, Settings), so a helper takes only the role
// it needs. Transactions are explicit values, never hidden in a context.
//
// Implementations: metadata/sqlite (the embedded default) and
// metadata/postgres, both built on metadata/sqldb. Every implementation must
// pass the conformance suite in metadata/storetest.
//
// Errors: methods return *openami.Error values of class NotFound or
// Duplicate for the outcomes they document, and wrap anything else as
// Internal. A function passed to Update or View may return any error; it is
// returned unchanged after the transaction is rolled back.
package metadata

import (
	"context"
	"time"

	"github.com/openami/openami"
)

// Store is a transactional metadata store.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// ViewSerial runs fn in a read-only transaction whose view is that of
	// some serial order of every read-write transaction: it sees all of a
	// transaction that committed before it and that any of its reads
	// depends on. Garbage collection marks in one, so that it cannot miss a
	// reference made by a writer that started before it. It may wait for
	// concurrent writers to finish first.
	ViewSerial(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil. Implementations may run fn more than once when a
	// transaction conflicts with a concurrent one, or when a transaction
	// it shared with other calls' functions fails (group commit), so fn
	// must not have effects outside the transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's connections.
	Close() error
}

// Tx is a transaction. Its role accessors return views bound to it; they
// must not be used after the function that received the Tx returns.
type Tx interface {
	Accounts() Accounts
	KeyPairs() KeyPairs
	Tags() Tags
	Settings() Settings
	Snapshots() Snapshots
	Volumes() Volumes
	Chunks() Chunks
	Nodes() Nodes
	Images() Images
	Instances() Instances
	Keys() Keys
	Grants() Grants
	Certificates() Certificates
	Networks() Networks
	Buckets() Buckets
	Objects() Objects
	LaunchTemplates() LaunchTemplates
	Parameters() Parameters
	ExportTasks() ExportTasks
	BundleTasks() BundleTasks
	AutoScalingGroups() AutoScalingGroups
	ImportTasks() ImportTasks
	Leases() Leases
	Hosts() Hosts
}

// Accounts records accounts and their access keys.
type Accounts interface {
	// Create records a new account. Duplicate if its id or name is taken.
	Create(a openami.Account) error
	// Get returns the account with the id. NotFound if there is none.
	Get(id string) (openami.Account, error)
	// List returns every account, ordered by id.
	List() ([]openami.Account, error)
	// SetStatus changes an account's status. NotFound if there is none.
	SetStatus(id string, status openami.AccountStatus) error
	// SetOrganization sets the organization and OUs an account belongs to
	// ("" and nil for none). NotFound if there is no such account.
	SetOrganization(id, organizationArn string, ouArns []string) error
	// Delete removes an account with its access keys, key pairs and tags.
	// NotFound if there is none.
	Delete(id string) error

	// CreateKey records an access key. Duplicate if the id is taken;
	// NotFound if the account does not exist.
	CreateKey(k openami.AccessKey) error
	// Key returns the access key with the id. NotFound if there is none.
	Key(id string) (openami.AccessKey, error)
	// Keys returns an account's access keys, ordered by id.
	Keys(accountID string) ([]openami.AccessKey, error)
	// DeleteKey removes an access key. NotFound if there is none.
	DeleteKey(id string) error
}

// KeyPairs records key pairs, which belong to an account and a region.
type KeyPairs interface {
	// Create records a key pair. Duplicate if the account already has a
	// key pair of that name in that region, or if the id is taken.
	Create(k openami.KeyPair) error
	// List returns the account's key pairs in the region, ordered by name.
	List(region, accountID string) ([]openami.KeyPair, error)
	// Delete removes a key pair by id, with its tags. NotFound if the
	// account has no such key pair in the region.
	Delete(region, accountID, id string) error
}

// TagRow is one tag of one resource (openami.TagRow).
type TagRow = openami.TagRow

// TagKey selects a tag for deletion (openami.TagKey).
type TagKey = openami.TagKey

// TagScan is a page request over an account's tags in a region, in
// (ResourceID, Key) order. It narrows the scan where it can; callers apply
// any further filtering themselves.
type TagScan struct {
	// AfterResourceID and AfterKey: return rows strictly after this
	// position. Both empty starts at the beginning.
	AfterResourceID string
	AfterKey        string
	// ResourceIDs, ResourceTypes and Keys, when not empty, restrict the rows
	// to those values (exact matches).
	ResourceIDs   []string
	ResourceTypes []openami.ResourceType
	Keys          []string
	// Limit is the most rows returned; 0 means no limit.
	Limit int
}

// Tags records tags on resources. Tags belong to the resource's owner and
// region; the store does not check that the resource exists.
type Tags interface {
	// Set adds the tags to a resource, overwriting the value of any key it
	// already has.
	Set(region, accountID, resourceID string, typ openami.ResourceType, tags []openami.Tag) error
	// Delete removes the selected tags from a resource. A key the resource
	// does not have, or whose value does not match, is ignored.
	Delete(region, accountID, resourceID string, keys []TagKey) error
	// DeleteAll removes every tag of a resource.
	DeleteAll(region, accountID, resourceID string) error
	// Of returns the tags of each of the resources, ordered by key. A
	// resource without tags has no entry.
	Of(region, accountID string, resourceIDs []string) (map[string][]openami.Tag, error)
	// Scan returns a page of the account's tags in the region.
	Scan(region, accountID string, q TagScan) ([]TagRow, error)
}

// Settings is a small key-value table for server-wide values that must
// survive restarts and be shared by every process using the store, such as
// the secret that signs pagination tokens.
type Settings interface {
	// Get returns the value of a setting. NotFound if it is not set.
	Get(key string) ([]byte, error)
	// Put sets a setting, replacing any earlier value.
	Put(key string, value []byte) error
	// PutIfAbsent sets a setting unless it is already set, and returns the
	// value the setting has afterwards.
	PutIfAbsent(key string, value []byte) ([]byte, error)
	// Delete removes a setting; deleting one that is not set is not an
	// error.
	Delete(key string) error
}

// SnapshotQuery selects snapshots of one region, in id order.
type SnapshotQuery struct {
	// VisibleTo, when set, keeps snapshots owned by that account or on
	// which it, or group all, holds createVolumePermission.
	VisibleTo string
	// OwnerIDs keeps snapshots owned by any of these accounts.
	OwnerIDs []string
	// RestorableBy keeps snapshots any of these accounts may create
	// volumes from: owned by it, or shared with it or with group all.
	RestorableBy []string
	// IDs keeps these snapshots.
	IDs []string
	// After returns snapshots with ids strictly greater.
	After string
	// Limit is the most snapshots returned; 0 means no limit.
	Limit int
}

// Permission is a createVolumePermission (or, later, a launch
// permission): an account id, or Group "all" for everyone.
type Permission struct {
	AccountID string
	Group     string
}

// BlockRef is one entry of a pending snapshot's or a volume overlay's
// blocks. Checksum is the base64 SHA-256 the EBS direct API client sent
// with the block ("" for volume writes).
type BlockRef struct {
	Index    int64
	Digest   openami.Digest
	Checksum string
}

// Snapshots records snapshots, their createVolumePermissions and the
// blocks of pending ones.
type Snapshots interface {
	// Create records a snapshot. Duplicate if the id is taken.
	Create(s openami.Snapshot) error
	// Get returns a snapshot of the region. NotFound if none.
	Get(region, id string) (openami.Snapshot, error)
	// ByClientToken returns the account's snapshot made with the token.
	// NotFound if none.
	ByClientToken(region, accountID, token string) (openami.Snapshot, error)
	// Update replaces every field of the snapshot with the id s.ID, except
	// ID, Region and AccountID. NotFound if none.
	Update(s openami.Snapshot) error
	// Delete removes a snapshot with its permissions and pending blocks.
	// NotFound if none.
	Delete(region, id string) error
	// List returns the region's snapshots that q selects.
	List(region string, q SnapshotQuery) ([]openami.Snapshot, error)
	// Pending returns every snapshot, in any region, in state pending.
	Pending() ([]openami.Snapshot, error)
	// TieringDue returns the snapshots, in any region, whose Tiering.Due
	// is set and not after before, earliest first, at most limit of them
	// (0: all).
	TieringDue(before time.Time, limit int) ([]openami.Snapshot, error)

	// Permissions returns a snapshot's createVolumePermissions.
	Permissions(snapshotID string) ([]Permission, error)
	// AddPermissions adds permissions; ones it already has are ignored.
	// NotFound if the snapshot does not exist.
	AddPermissions(snapshotID string, p []Permission) error
	// RemovePermissions removes permissions; ones it lacks are ignored.
	RemovePermissions(snapshotID string, p []Permission) error

	// PutBlock records a block of a pending snapshot, replacing any
	// earlier one at that index. NotFound if the snapshot does not exist.
	PutBlock(snapshotID string, b BlockRef) error
	// Blocks returns up to limit (0: all) blocks of a pending snapshot
	// with index greater than after, in index order. Use -1 to start.
	Blocks(snapshotID string, after int64, limit int) ([]BlockRef, error)
	// DeleteBlocks removes every block of a pending snapshot.
	DeleteBlocks(snapshotID string) error
}

// VolumeQuery selects volumes of one region, in id order.
type VolumeQuery struct {
	// AccountID keeps the account's volumes ("" for every account).
	AccountID string
	IDs       []string
	After     string
	Limit     int
}

// Volumes records volumes and their overlays: the blocks written since
// their base.
type Volumes interface {
	// Create records a volume. Duplicate if the id is taken.
	Create(v openami.Volume) error
	// Get returns a volume of the region. NotFound if none.
	Get(region, id string) (openami.Volume, error)
	// ByClientToken returns the account's volume made with the token.
	// NotFound if none.
	ByClientToken(region, accountID, token string) (openami.Volume, error)
	// Update replaces every field of the volume with the id v.ID, except
	// ID, Region and AccountID. NotFound if none.
	Update(v openami.Volume) error
	// Delete removes a volume with its overlay. NotFound if none.
	Delete(region, id string) error
	// List returns the region's volumes that q selects.
	List(region string, q VolumeQuery) ([]openami.Volume, error)

	// PutBlock records a block written to the volume, replacing any
	// earlier one at that index. NotFound if the volume does not exist.
	PutBlock(volumeID string, b BlockRef) error
	// Block returns the overlay's block at index, and whether it has one.
	Block(volumeID string, index int64) (BlockRef, bool, error)
	// Blocks returns up to limit (0: all) overlay blocks with index
	// greater than after, in index order. Use -1 to start.
	Blocks(volumeID string, after int64, limit int) ([]BlockRef, error)
	// DeleteBlocks empties the overlay.
	DeleteBlocks(volumeID string) error
}

// ChunkState is a chunk's place in garbage collection.
type ChunkState string

// Chunk states. A chunk is live until a collection decides to delete it;
// then it is deleting until its blob is gone and its row removed.
const (
	ChunkLive     ChunkState = "live"
	ChunkDeleting ChunkState = "deleting"
)

// Chunk is the record of one stored chunk of a region's block store.
type Chunk struct {
	Digest openami.Digest
	// Size is the plaintext size (BlockSize for every chunk today);
	// Stored is the size of the blob after compression.
	Size   int64
	Stored int64
	// Gen is the garbage-collection generation in which the chunk was
	// last written or referenced anew.
	Gen   int64
	State ChunkState
}

// Chunks records which chunks each region's block store holds. A writer
// stores a chunk's blob first and then, in the transaction that commits
// its reference to the chunk, calls Touch; a collection never deletes a
// chunk touched in or after the generation it started in.
type Chunks interface {
	// Touch records chunks as referenced in generation gen: it inserts
	// missing rows and raises Gen on live ones. If any chunk is being
	// deleted it changes nothing and returns an IncorrectState error, and
	// the writer must store the blob again once the row is gone.
	Touch(region string, chunks []Chunk, gen int64) error
	// Get returns a chunk's record. NotFound if none.
	Get(region string, d openami.Digest) (Chunk, error)
	// List returns up to limit chunk records with digests greater than
	// after, in digest order. Use ZeroDigest to start.
	List(region string, after openami.Digest, limit int) ([]Chunk, error)
	// MarkDeleting moves a live chunk with Gen below gen to deleting and
	// reports whether it did.
	MarkDeleting(region string, d openami.Digest, belowGen int64) (bool, error)
	// Claim records a chunk that has no row as deleting, so that a
	// collection may delete an orphaned blob (stored by a writer that
	// never committed) without racing a writer that is about to reference
	// it. It reports whether it inserted the row; an existing row, in any
	// state, is left alone.
	Claim(region string, d openami.Digest) (bool, error)
	// Delete removes a chunk's record if it is deleting. A live record is
	// left alone: it means a writer stored the chunk anew after another
	// collection finished deleting it.
	Delete(region string, d openami.Digest) error
	// Stats returns the number of chunks of the region and their stored
	// bytes.
	Stats(region string) (count, stored int64, err error)
}

// Nodes stores the nodes of block maps: small, immutable, content-addressed
// byte strings (see package blockstore). Like chunks they are per region
// and carry a garbage-collection generation.
type Nodes interface {
	// Get returns a node. NotFound if the region has none with that hash.
	Get(region string, h openami.Digest) ([]byte, error)
	// Put stores a node, or raises its Gen if present.
	Put(region string, h openami.Digest, data []byte, gen int64) error
	// List returns up to limit node hashes greater than after, in order,
	// with their Gen.
	List(region string, after openami.Digest, limit int) ([]NodeRef, error)
	// Delete removes the nodes among hashes whose Gen is below belowGen
	// and returns how many it removed.
	Delete(region string, hashes []openami.Digest, belowGen int64) (int, error)
}

// NodeRef is a node's hash and generation.
type NodeRef struct {
	Hash openami.Digest
	Gen  int64
}

// ImageQuery selects images of one region, in id order. Every field that
// is set narrows the result.
type ImageQuery struct {
	// VisibleTo keeps images the account owns or may launch: public ones,
	// and ones whose launch permissions name the account or any of
	// VisibleOrgs (organization and OU ARNs the account belongs to).
	VisibleTo   string
	VisibleOrgs []string
	// OwnerIDs keeps images owned by any of these accounts; OwnerAliases
	// those published under any of these aliases. When both are set they
	// form one condition (either), as EC2's Owners list does.
	OwnerIDs     []string
	OwnerAliases []string
	// ExecutableBy keeps images any of these accounts (or, with "all",
	// everyone) may launch by an explicit permission or by being public;
	// ExecutableOrgs adds permissions for these organization and OU ARNs.
	ExecutableBy   []string
	ExecutableOrgs []string
	IDs            []string
	// Names keeps images with any of these exact names.
	Names []string
	// NamePrefixes keeps images whose name starts with any of these
	// prefixes (case-sensitive; an empty prefix matches every name).
	NamePrefixes []string
	// TagOwner and Tags keep images on which account TagOwner has tags
	// matching every entry of Tags: the key, with any of the values (any
	// value when Values is empty). Tags belong to an image's owner, so
	// callers set TagOwner to the account whose tags they may see.
	TagOwner string
	Tags     []TagMatch
	// States keeps images in any of these states.
	States []openami.ImageState
	After  string
	Limit  int
}

// TagMatch is one condition of ImageQuery.Tags: a tag with the key Key
// (case-sensitive) and, unless Values is empty, any of the values Values.
type TagMatch struct {
	Key    string
	Values []string
}

// Images records images and their launch permissions.
type Images interface {
	// Create records an image. Duplicate if the id is taken, or if the
	// owner has an image of that name in the region (resource image).
	Create(img openami.Image) error
	// Get returns an image of the region. NotFound if none.
	Get(region, id string) (openami.Image, error)
	// Update replaces every field of the image with the id img.ID, except
	// ID, Region and AccountID. NotFound if none.
	Update(img openami.Image) error
	// Delete removes an image with its launch permissions. NotFound if
	// none.
	Delete(region, id string) error
	// List returns the region's images that q selects.
	List(region string, q ImageQuery) ([]openami.Image, error)
	// UsingSnapshot returns the ids of the images of the region whose
	// block device mappings use the snapshot, in id order.
	UsingSnapshot(region, snapshotID string) ([]string, error)

	// Permissions returns an image's launch permissions.
	Permissions(imageID string) ([]openami.LaunchPermission, error)
	// AddPermissions adds launch permissions; ones it has are ignored.
	// NotFound if the image does not exist.
	AddPermissions(imageID string, p []openami.LaunchPermission) error
	// RemovePermissions removes launch permissions; ones it lacks are
	// ignored.
	RemovePermissions(imageID string, p []openami.LaunchPermission) error
}

// InstanceQuery selects instances of one region, in id order.
type InstanceQuery struct {
	// AccountID keeps the account's instances ("" for every account).
	AccountID string
	IDs       []string
	// States keeps instances in any of these states.
	States []openami.InstanceState
	After  string
	Limit  int
}

// Instances records instances.
type Instances interface {
	// Create records an instance. Duplicate if the id is taken, or if
	// another instance (of any account or region) holds its PublicIP.
	Create(i openami.Instance) error
	// Get returns an instance of the region. NotFound if none.
	Get(region, id string) (openami.Instance, error)
	// ByClientToken returns the instances the account launched with the
	// token, in id order (none: an empty list).
	ByClientToken(region, accountID, token string) ([]openami.Instance, error)
	// Update replaces every field of the instance with the id i.ID,
	// except ID, Region and AccountID. NotFound if none; Duplicate if
	// another instance (of any account or region) holds its PublicIP.
	Update(i openami.Instance) error
	// PublicIPs returns the public addresses that instances hold, of
	// every account and region, in no particular order: the public
	// pool's addresses in use.
	PublicIPs() ([]string, error)
	// Delete removes an instance. NotFound if none.
	Delete(region, id string) error
	// List returns the region's instances that q selects.
	List(region string, q InstanceQuery) ([]openami.Instance, error)
}

// NetworkQuery selects the VPCs, subnets or security groups of one
// account in a region, in id order.
type NetworkQuery struct {
	// AccountID keeps one account's records ("" for every account).
	AccountID string
	// VpcID keeps the subnets or groups of one VPC ("" for every VPC;
	// ignored when listing VPCs).
	VpcID string
	// IDs keeps those ids only (none: every id).
	IDs []string
	// After returns records with ids strictly greater.
	After string
	// Limit is the most records returned; 0 means no limit.
	Limit int
}

// Networks records VPCs, subnets and security groups (with their rules).
// Ids are unique across regions and accounts; a security group's name is
// unique within its VPC.
type Networks interface {
	// CreateVPC records a VPC. Duplicate if the id is taken.
	CreateVPC(v openami.VPC) error
	// GetVPC returns a VPC of the region. NotFound if none.
	GetVPC(region, id string) (openami.VPC, error)
	// UpdateVPC replaces every field of the VPC v.ID but ID, Region and
	// AccountID. NotFound if none.
	UpdateVPC(v openami.VPC) error
	// DeleteVPC removes a VPC. NotFound if none.
	DeleteVPC(region, id string) error
	// ListVPCs returns the region's VPCs that q selects.
	ListVPCs(region string, q NetworkQuery) ([]openami.VPC, error)

	// CreateSubnet records a subnet. Duplicate if the id is taken.
	CreateSubnet(n openami.Subnet) error
	// GetSubnet returns a subnet of the region. NotFound if none.
	GetSubnet(region, id string) (openami.Subnet, error)
	// UpdateSubnet replaces every field of the subnet n.ID but ID, Region,
	// AccountID and VpcID. NotFound if none.
	UpdateSubnet(n openami.Subnet) error
	// DeleteSubnet removes a subnet. NotFound if none.
	DeleteSubnet(region, id string) error
	// ListSubnets returns the region's subnets that q selects.
	ListSubnets(region string, q NetworkQuery) ([]openami.Subnet, error)

	// CreateGroup records a security group. Duplicate (of
	// ResourceSecurityGroup) if the id is taken or its VPC has a group of
	// that name.
	CreateGroup(g openami.SecurityGroup) error
	// GetGroup returns a security group of the region. NotFound if none.
	GetGroup(region, id string) (openami.SecurityGroup, error)
	// UpdateGroup replaces the description and rules of the group g.ID.
	// NotFound if none.
	UpdateGroup(g openami.SecurityGroup) error
	// DeleteGroup removes a security group. NotFound if none.
	DeleteGroup(region, id string) error
	// ListGroups returns the region's security groups that q selects.
	ListGroups(region string, q NetworkQuery) ([]openami.SecurityGroup, error)
}

// AliasQuery selects KMS aliases of one account and region, in name order.
type AliasQuery struct {
	// KeyID keeps the aliases of that key ("" for every key).
	KeyID string
	// After returns aliases with names strictly greater.
	After string
	// Limit is the most aliases returned; 0 means no limit.
	Limit int
}

// Keys records KMS keys and their aliases. Key ids are unique across
// regions and accounts; alias names are unique within an account and
// region.
type Keys interface {
	// Create records a key. Duplicate if the id is taken.
	Create(k openami.Key) error
	// Get returns the key with the id in the region, whichever account
	// owns it. NotFound if none.
	Get(region, id string) (openami.Key, error)
	// Update replaces every field of the key with the id k.ID except ID,
	// Region, AccountID, CreatedAt and SealedMaterial. NotFound if none.
	Update(k openami.Key) error
	// Delete removes a key with every alias that names it and its grants.
	// NotFound if none.
	Delete(region, id string) error
	// Reseal replaces a key's sealed material (after the master key that
	// seals it changed). NotFound if none.
	Reseal(region, id string, sealed []byte) error
	// List returns up to limit (0: all) of the account's keys in the
	// region with ids greater than after, in id order.
	List(region, accountID, after string, limit int) ([]openami.Key, error)
	// Regions returns the regions that hold at least one key, sorted:
	// whatever regions a server serves today, every key is in one of them.
	Regions() ([]string, error)
	// DueForDeletion returns up to limit (0: all) keys of the region
	// pending deletion with a deletion date at or before t, in id order.
	DueForDeletion(region string, t time.Time, limit int) ([]openami.Key, error)

	// CreateAlias records an alias. Duplicate if the account has an alias
	// of that name in the region; NotFound if its target key does not
	// exist in the region.
	CreateAlias(a openami.KeyAlias) error
	// Alias returns an alias of the account in the region. NotFound if
	// none.
	Alias(region, accountID, name string) (openami.KeyAlias, error)
	// UpdateAlias points an existing alias at a.TargetKeyID and sets its
	// UpdatedAt. NotFound if the alias or the key does not exist.
	UpdateAlias(a openami.KeyAlias) error
	// DeleteAlias removes an alias. NotFound if none.
	DeleteAlias(region, accountID, name string) error
	// Aliases returns the account's aliases in the region that q selects.
	Aliases(region, accountID string, q AliasQuery) ([]openami.KeyAlias, error)
}

// GrantQuery selects KMS grants of one region, in grant id order. Fields
// left empty select everything.
type GrantQuery struct {
	// KeyID keeps the grants of that key.
	KeyID string
	// ID keeps the grant with that id.
	ID string
	// Name keeps the grants with that name.
	Name string
	// GranteePrincipal keeps the grants to exactly that principal;
	// GranteeAccount the grants to any principal of that account.
	GranteePrincipal string
	GranteeAccount   string
	// RetiringPrincipal keeps the grants that principal may retire.
	RetiringPrincipal string
	// After returns grants with ids strictly greater.
	After string
	// Limit is the most grants returned; 0 means no limit.
	Limit int
}

// Certificates records accounts' signing certificates and each region's
// EC2 key.
type Certificates interface {
	// CreateSigning records a signing certificate. Duplicate (about
	// openami.ResourceSigningCertificate) if the account already has one
	// with the same fingerprint, or the id is taken.
	CreateSigning(c openami.SigningCertificate) error
	// Signing returns the account's signing certificates, ordered by
	// upload time, then id.
	Signing(accountID string) ([]openami.SigningCertificate, error)
	// SetSigningStatus changes the status of the account's certificate.
	// NotFound if the account has no certificate with the id.
	SetSigningStatus(accountID, id string, status openami.CertificateStatus) error
	// DeleteSigning removes the account's certificate. NotFound if the
	// account has no certificate with the id.
	DeleteSigning(accountID, id string) error

	// RegionKey returns the region's EC2 key. NotFound (about
	// openami.ResourceRegionKey) if it has none yet.
	RegionKey(region string) (RegionKey, error)
	// CreateRegionKeyIfAbsent records k unless its region already has a
	// key, and returns the region's key afterwards: of two writers racing,
	// both get the one that was stored first.
	CreateRegionKeyIfAbsent(k RegionKey) (RegionKey, error)
	// RegionKeys returns every region's key, ordered by region.
	RegionKeys() ([]RegionKey, error)
	// SetRegionKeySealed replaces the sealed private key of the region's
	// key (a master-key rotation). NotFound if the region has none.
	SetRegionKeySealed(region string, sealedKey []byte) error
}

// RegionKey is a region's EC2 key: the RSA key pair whose certificate
// users encrypt bundles to (AWS's cert-ec2.pem) and with which openami
// signs the manifests it makes. SealedKey is the PKCS#8 DER of the private
// key sealed under the master key (internal/seal), with the region's name
// as associated data.
type RegionKey struct {
	Region string
	// Certificate is the self-signed X.509 certificate in PEM.
	Certificate string
	SealedKey   []byte
	CreatedAt   time.Time
}

// Grants records KMS grants. A grant belongs to one key; grant ids are
// unique across regions. Keys.Delete deletes a key's grants with it.
type Grants interface {
	// Create records a grant. Duplicate if the id is taken; NotFound if
	// its key does not exist in the region.
	Create(g openami.Grant) error
	// Get returns the grant with the id in the region. NotFound if none.
	Get(region, id string) (openami.Grant, error)
	// List returns the region's grants that q selects.
	List(region string, q GrantQuery) ([]openami.Grant, error)
	// Delete removes a grant. NotFound if none.
	Delete(region, id string) error
}
