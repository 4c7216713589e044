package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Migration is one numbered step of the schema. Versions start at 1 and are
// consecutive; a migration, once released, never changes: a fix is a new
// migration. SQL may hold several statements and uses the type tokens
// {{text}} and {{blob}} (see Dialect).
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ErrNewerSchema is returned (wrapped) when a database was migrated by a
// newer openami than this one: the binary cannot know what the newer schema
// means, so it refuses to use it rather than corrupt it.
var ErrNewerSchema = errors.New("database schema is newer than this binary")

// migrations is the schema, in order. Accounts.Delete must delete from every
// table that holds an account's rows; a migration adding such a table must
// extend it.
var migrations = []Migration{
	{Version: 1, Name: "initial", SQL: `
CREATE TABLE accounts (
	id         {{text}} NOT NULL PRIMARY KEY,
	name       {{text}} NOT NULL UNIQUE,
	status     {{text}} NOT NULL,
	admin      BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE access_keys (
	id            {{text}} NOT NULL PRIMARY KEY,
	account_id    {{text}} NOT NULL REFERENCES accounts (id),
	sealed_secret {{blob}} NOT NULL,
	created_at    BIGINT NOT NULL
);
CREATE INDEX access_keys_by_account ON access_keys (account_id, id);

CREATE TABLE key_pairs (
	region      {{text}} NOT NULL,
	account_id  {{text}} NOT NULL,
	id          {{text}} NOT NULL PRIMARY KEY,
	name        {{text}} NOT NULL,
	type        {{text}} NOT NULL,
	fingerprint {{text}} NOT NULL,
	public_key  {{text}} NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (region, account_id, name)
);

-- The primary key is also the index Tags.Scan walks: it pages in
-- (resource_id, key) order within one region and account.
-- tags_by_key serves scans narrowed to a few keys (DescribeTags with
-- a key filter, the common case).
CREATE TABLE tags (
	region        {{text}} NOT NULL,
	account_id    {{text}} NOT NULL,
	resource_id   {{text}} NOT NULL,
	resource_type {{text}} NOT NULL,
	key           {{text}} NOT NULL,
	value         {{text}} NOT NULL,
	PRIMARY KEY (region, account_id, resource_id, key)
);
CREATE INDEX tags_by_key ON tags (region, account_id, key, resource_id);

CREATE TABLE settings (
	key   {{text}} NOT NULL PRIMARY KEY,
	value {{blob}} NOT NULL
);
`},
	{Version: 2, Name: "block storage", SQL: `
-- Snapshot and volume ids are unique across regions: their child rows
-- name them by id alone. Digests (root, base, block digests, chunk and
-- node hashes) are 32-byte blobs; ZeroDigest is 32 zero bytes.
--
-- *_by_region serves listing a region in id order (snapshots visible to
-- an account: its own and those shared with it), *_by_owner listing one
-- account's (and deleting an account), *_by_client_token the idempotency
-- look-ups, snapshots_by_state Pending.
CREATE TABLE snapshots (
	region       {{text}} NOT NULL,
	account_id   {{text}} NOT NULL,
	id           {{text}} NOT NULL PRIMARY KEY,
	volume_id    {{text}} NOT NULL,
	volume_size  BIGINT NOT NULL,
	state        {{text}} NOT NULL,
	state_reason {{text}} NOT NULL,
	progress     INTEGER NOT NULL,
	description  {{text}} NOT NULL,
	parent_id    {{text}} NOT NULL,
	root         {{blob}} NOT NULL CHECK (length(root) = 32),
	completing   BOOLEAN NOT NULL,
	client_token {{text}} NOT NULL,
	deadline     BIGINT NOT NULL,
	start_time   BIGINT NOT NULL,
	data_bytes   BIGINT NOT NULL,
	encrypted    BOOLEAN NOT NULL,
	kms_key_id   {{text}} NOT NULL
);
CREATE INDEX snapshots_by_region ON snapshots (region, id, account_id);
CREATE INDEX snapshots_by_owner ON snapshots (account_id, region, id);
CREATE INDEX snapshots_by_client_token ON snapshots (region, account_id, client_token, id);
CREATE INDEX snapshots_by_state ON snapshots (state, id);

-- A createVolumePermission: an account (grp empty) or group all
-- (account_id empty). snapshot_permissions_by_account finds the
-- permissions granted to an account that is being deleted.
CREATE TABLE snapshot_permissions (
	snapshot_id {{text}} NOT NULL REFERENCES snapshots (id),
	account_id  {{text}} NOT NULL,
	grp         {{text}} NOT NULL,
	PRIMARY KEY (snapshot_id, account_id, grp),
	CHECK ((account_id <> '' AND grp = '') OR (account_id = '' AND grp = 'all'))
);
CREATE INDEX snapshot_permissions_by_account ON snapshot_permissions (account_id, snapshot_id);

-- The blocks of pending snapshots and of volume overlays, written and read
-- by primary key on the data path. They have no foreign key to their
-- snapshot or volume, which would cost PostgreSQL a row lock on the parent
-- in every block write: the store inserts a block only while its parent
-- exists (INSERT … SELECT from the parent) and deletes blocks with it.
CREATE TABLE snapshot_blocks (
	snapshot_id {{text}} NOT NULL,
	block_index BIGINT NOT NULL CHECK (block_index >= 0),
	digest      {{blob}} NOT NULL CHECK (length(digest) = 32),
	checksum    {{text}} NOT NULL,
	PRIMARY KEY (snapshot_id, block_index)
) {{clustered}};

CREATE TABLE volumes (
	region            {{text}} NOT NULL,
	account_id        {{text}} NOT NULL,
	id                {{text}} NOT NULL PRIMARY KEY,
	availability_zone {{text}} NOT NULL,
	size              BIGINT NOT NULL,
	type              {{text}} NOT NULL,
	iops              INTEGER NOT NULL,
	throughput        INTEGER NOT NULL,
	snapshot_id       {{text}} NOT NULL,
	state             {{text}} NOT NULL,
	base              {{blob}} NOT NULL CHECK (length(base) = 32),
	multi_attach      BOOLEAN NOT NULL,
	encrypted         BOOLEAN NOT NULL,
	kms_key_id        {{text}} NOT NULL,
	client_token      {{text}} NOT NULL,
	created_at        BIGINT NOT NULL
);
CREATE INDEX volumes_by_region ON volumes (region, id);
CREATE INDEX volumes_by_owner ON volumes (account_id, region, id);
CREATE INDEX volumes_by_client_token ON volumes (region, account_id, client_token, id);

CREATE TABLE volume_blocks (
	volume_id   {{text}} NOT NULL,
	block_index BIGINT NOT NULL CHECK (block_index >= 0),
	digest      {{blob}} NOT NULL CHECK (length(digest) = 32),
	checksum    {{text}} NOT NULL,
	PRIMARY KEY (volume_id, block_index)
) {{clustered}};

-- The chunks and block-map nodes of each region's block store, with their
-- garbage-collection generation. Nodes are not clustered: a node may be
-- several kilobytes, too big for a row of a SQLite WITHOUT ROWID table.
CREATE TABLE chunks (
	region {{text}} NOT NULL,
	digest {{blob}} NOT NULL CHECK (length(digest) = 32),
	size   BIGINT NOT NULL,
	stored BIGINT NOT NULL,
	gen    BIGINT NOT NULL,
	state  {{text}} NOT NULL CHECK (state IN ('live', 'deleting')),
	PRIMARY KEY (region, digest)
) {{clustered}};

CREATE TABLE block_nodes (
	region {{text}} NOT NULL,
	hash   {{blob}} NOT NULL CHECK (length(hash) = 32),
	data   {{blob}} NOT NULL,
	gen    BIGINT NOT NULL,
	PRIMARY KEY (region, hash)
);
`},
	{Version: 3, Name: "images", SQL: `
-- An image's indexed fields are columns; the whole openami.Image, with its
-- block device mappings, product codes and the rest, is the JSON doc, kept
-- in step with the columns by the store. Image ids are unique across
-- regions: child rows name images by id alone.
--
-- The indexes serve List's selections, each in id order within a region:
-- every image (images_by_region), an owner's (images_by_owner), an
-- alias's (images_by_alias), public ones (images_by_public), and by name
-- (images_by_name; the unique constraint is per owner).
CREATE TABLE images (
	region      {{text}} NOT NULL,
	account_id  {{text}} NOT NULL,
	id          {{text}} NOT NULL PRIMARY KEY,
	name        {{text}} NOT NULL,
	owner_alias {{text}} NOT NULL,
	state       {{text}} NOT NULL,
	public      BOOLEAN NOT NULL,
	created_at  BIGINT NOT NULL,
	doc         {{text}} NOT NULL,
	UNIQUE (region, account_id, name)
);
CREATE INDEX images_by_region ON images (region, id);
CREATE INDEX images_by_owner ON images (region, account_id, id);
CREATE INDEX images_by_alias ON images (region, owner_alias, id);
CREATE INDEX images_by_public ON images (region, public, id);
CREATE INDEX images_by_name ON images (region, name);

-- The snapshots an image's block device mappings use, for
-- Images.UsingSnapshot.
CREATE TABLE image_snapshots (
	image_id    {{text}} NOT NULL REFERENCES images (id),
	snapshot_id {{text}} NOT NULL,
	PRIMARY KEY (image_id, snapshot_id)
);
CREATE INDEX image_snapshots_by_snapshot ON image_snapshots (snapshot_id, image_id);

-- A launch permission: kind user (value an account id), group (value
-- 'all'), org (an organization ARN) or ou (an organizational unit ARN).
-- images.public is true exactly while the image has the group all row.
-- image_permissions_by_value serves the listings of images shared with an
-- account or organization, and deleting an account.
CREATE TABLE image_permissions (
	image_id {{text}} NOT NULL REFERENCES images (id),
	kind     {{text}} NOT NULL CHECK (kind IN ('user', 'group', 'org', 'ou')),
	value    {{text}} NOT NULL CHECK (value <> ''),
	PRIMARY KEY (image_id, kind, value),
	CHECK (kind <> 'group' OR value = 'all')
);
CREATE INDEX image_permissions_by_value ON image_permissions (kind, value, image_id);
`},
	{Version: 4, Name: "organizations", SQL: `
-- The organization an account belongs to, and its organizational units,
-- innermost last, separated by spaces ('' for none).
ALTER TABLE accounts ADD COLUMN organization_arn {{text}} NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN ou_arns {{text}} NOT NULL DEFAULT '';
`},
	{Version: 5, Name: "image listing indexes", SQL: `
-- images_by_state serves listings by state in id order, such as the
-- Recycle Bin pass over deregistered images. tags_by_value serves
-- Images.List's tag conditions with values: an account's resources with
-- a key and one of some values (tags_by_key serves the key alone).
CREATE INDEX images_by_state ON images (region, state, id);
CREATE INDEX tags_by_value ON tags (region, account_id, key, value, resource_id);
`},
	{Version: 6, Name: "instances", SQL: `
-- An instance's indexed fields are columns and the whole openami.Instance
-- is the JSON doc, as for images. instances_by_state serves the runtime's
-- pass over instances in transition and the sweep of terminated ones;
-- instances_by_client_token RunInstances' idempotency.
CREATE TABLE instances (
	region         {{text}} NOT NULL,
	account_id     {{text}} NOT NULL,
	id             {{text}} NOT NULL PRIMARY KEY,
	reservation_id {{text}} NOT NULL,
	image_id       {{text}} NOT NULL,
	state          {{text}} NOT NULL,
	client_token   {{text}} NOT NULL,
	doc            {{text}} NOT NULL
);
CREATE INDEX instances_by_owner ON instances (region, account_id, id);
CREATE INDEX instances_by_state ON instances (state, region, id);
CREATE INDEX instances_by_client_token ON instances (region, account_id, client_token, id);

-- A volume's attachment: the instance ('' when detached), its device name,
-- when, and whether terminating the instance deletes the volume.
ALTER TABLE volumes ADD COLUMN instance_id {{text}} NOT NULL DEFAULT '';
ALTER TABLE volumes ADD COLUMN device {{text}} NOT NULL DEFAULT '';
ALTER TABLE volumes ADD COLUMN attach_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE volumes ADD COLUMN delete_on_termination BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX volumes_by_instance ON volumes (instance_id, device);
`},
	{Version: 7, Name: "kms keys", SQL: `
-- A KMS key: the columns its listings select on, the key material sealed
-- by the master key, and the rest of openami.Key (description, usage,
-- spec, policy, tags, pending window) as the JSON doc. Key ids are UUIDs,
-- unique across regions and accounts. kms_keys_by_owner serves ListKeys,
-- kms_keys_by_deletion the sweep of keys whose waiting period is over.
CREATE TABLE kms_keys (
	region          {{text}} NOT NULL,
	account_id      {{text}} NOT NULL,
	id              {{text}} NOT NULL PRIMARY KEY,
	state           {{text}} NOT NULL CHECK (state IN ('Enabled', 'Disabled', 'PendingDeletion')),
	deletion_date   BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	sealed_material {{blob}} NOT NULL,
	doc             {{text}} NOT NULL
);
CREATE INDEX kms_keys_by_owner ON kms_keys (region, account_id, id);
CREATE INDEX kms_keys_by_deletion ON kms_keys (region, state, deletion_date, id);

-- An alias (alias/NAME) of a key of the same account and region.
-- kms_aliases_by_key serves ListAliases with a KeyId and the deletion of
-- a key's aliases with it.
CREATE TABLE kms_aliases (
	region        {{text}} NOT NULL,
	account_id    {{text}} NOT NULL,
	name          {{text}} NOT NULL,
	target_key_id {{text}} NOT NULL REFERENCES kms_keys (id),
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	PRIMARY KEY (region, account_id, name)
);
CREATE INDEX kms_aliases_by_key ON kms_aliases (target_key_id, name);
`},
	{Version: 8, Name: "kms grants", SQL: `
-- A grant on a KMS key: the columns its listings and the authorization
-- of a request select on, and its operations and constraints as the JSON
-- doc. account_id is the key's account, grantee_account the account of
-- the grantee principal ('' for a service principal); name and
-- retiring_principal are '' when absent. kms_grants_by_key serves
-- ListGrants and the deletion of a key's grants, kms_grants_by_grantee
-- the question whether a caller's account holds a grant on a key, and
-- kms_grants_by_retiring ListRetirableGrants.
CREATE TABLE kms_grants (
	region             {{text}} NOT NULL,
	id                 {{text}} NOT NULL PRIMARY KEY,
	key_id             {{text}} NOT NULL REFERENCES kms_keys (id),
	account_id         {{text}} NOT NULL,
	name               {{text}} NOT NULL,
	grantee_principal  {{text}} NOT NULL,
	grantee_account    {{text}} NOT NULL,
	retiring_principal {{text}} NOT NULL,
	created_at         BIGINT NOT NULL,
	doc                {{text}} NOT NULL
);
CREATE INDEX kms_grants_by_key ON kms_grants (key_id, id);
CREATE INDEX kms_grants_by_grantee ON kms_grants (key_id, grantee_account, id);
CREATE INDEX kms_grants_by_retiring ON kms_grants (region, retiring_principal, id);
`},
	{Version: 9, Name: "networks", SQL: `
-- VPCs, subnets and security groups: the columns their listings select
-- on and the whole record as JSON in doc (a group's rules inside its
-- doc). A group's name is unique within its VPC.
CREATE TABLE vpcs (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	doc        {{text}} NOT NULL
);
CREATE INDEX vpcs_by_owner ON vpcs (region, account_id, id);

CREATE TABLE subnets (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	vpc_id     {{text}} NOT NULL,
	doc        {{text}} NOT NULL
);
CREATE INDEX subnets_by_owner ON subnets (region, account_id, id);
CREATE INDEX subnets_by_vpc ON subnets (vpc_id, id);

CREATE TABLE security_groups (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	vpc_id     {{text}} NOT NULL,
	name       {{text}} NOT NULL,
	doc        {{text}} NOT NULL,
	UNIQUE (vpc_id, name)
);
CREATE INDEX security_groups_by_owner ON security_groups (region, account_id, id);
`},
	{Version: 10, Name: "instance public addresses", SQL: `
-- An instance's public address ('' when it holds none), unique across
-- every account and region: the host's public pool is one.
ALTER TABLE instances ADD COLUMN public_ip {{text}} NOT NULL DEFAULT '';
CREATE UNIQUE INDEX instances_by_public_ip ON instances (public_ip) WHERE public_ip <> '';
`},
	{Version: 11, Name: "object storage", SQL: `
-- Object storage (S3). A bucket's name is unique across every account
-- and region; its id names its blobs. An object's key is stored as bytes
-- so that every database orders keys as S3 does, byte by byte; the rest
-- of openami.Object (headers, ACL, the blobs of its parts) is the doc.
CREATE TABLE buckets (
	name       {{text}} NOT NULL PRIMARY KEY,
	id         {{text}} NOT NULL UNIQUE,
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	created_at BIGINT NOT NULL,
	doc        {{text}} NOT NULL
);
CREATE INDEX buckets_by_owner ON buckets (account_id, name);

CREATE TABLE objects (
	bucket_id {{text}} NOT NULL REFERENCES buckets (id),
	key_bytes {{blob}} NOT NULL,
	doc       {{text}} NOT NULL,
	PRIMARY KEY (bucket_id, key_bytes)
);

-- A multipart upload in progress, and its parts: each part is a blob of
-- its own until CompleteMultipartUpload names them in the object's doc.
CREATE TABLE uploads (
	bucket_id {{text}} NOT NULL REFERENCES buckets (id),
	id        {{text}} NOT NULL PRIMARY KEY,
	key_bytes {{blob}} NOT NULL,
	doc       {{text}} NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket_id, key_bytes, id);

CREATE TABLE upload_parts (
	upload_id {{text}} NOT NULL REFERENCES uploads (id),
	number    INTEGER NOT NULL,
	blob_key  {{text}} NOT NULL,
	doc       {{text}} NOT NULL,
	PRIMARY KEY (upload_id, number)
);
`},
	{Version: 12, Name: "signing certificates and region keys", SQL: `
-- An account's signing certificates (IAM's UploadSigningCertificate):
-- the PEM as uploaded, and the hex SHA-256 of its DER, unique per
-- account (DuplicateCertificate).
CREATE TABLE signing_certificates (
	account_id  {{text}} NOT NULL REFERENCES accounts (id),
	id          {{text}} NOT NULL PRIMARY KEY,
	fingerprint {{text}} NOT NULL,
	body        {{text}} NOT NULL,
	status      {{text}} NOT NULL,
	uploaded_at BIGINT NOT NULL,
	UNIQUE (account_id, fingerprint)
);

-- Each region's EC2 key: its self-signed certificate in PEM and its
-- private key sealed under the master key. One per region: of two nodes
-- making one at once, the first insert wins.
CREATE TABLE region_keys (
	region      {{text}} NOT NULL PRIMARY KEY,
	certificate {{text}} NOT NULL,
	sealed_key  {{blob}} NOT NULL,
	created_at  BIGINT NOT NULL
);
`},
	{Version: 13, Name: "launch templates", SQL: `
-- Launch templates and their versions: the columns listings select on
-- and the whole record as JSON in doc. A name is unique among an
-- account's templates in a region; a version number within its template.
CREATE TABLE launch_templates (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	name       {{text}} NOT NULL,
	doc        {{text}} NOT NULL,
	UNIQUE (region, account_id, name)
);
CREATE INDEX launch_templates_by_owner ON launch_templates (region, account_id, id);

CREATE TABLE launch_template_versions (
	template_id {{text}} NOT NULL REFERENCES launch_templates (id),
	version     BIGINT NOT NULL,
	doc         {{text}} NOT NULL,
	PRIMARY KEY (template_id, version)
);
`},
	{Version: 14, Name: "ssm parameters", SQL: `
-- Every version of every SSM parameter: an account's, or the operator's
-- public ones (account_id ''), by region and name. doc is the whole
-- openami.Parameter as JSON. No foreign key to accounts: public
-- parameters have none; Accounts.Delete deletes an account's.
CREATE TABLE parameters (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	name       {{text}} NOT NULL,
	version    BIGINT NOT NULL,
	doc        {{text}} NOT NULL,
	PRIMARY KEY (region, account_id, name, version)
);
`},
	{Version: 15, Name: "bundle tasks", SQL: `
-- BundleInstance's tasks: the record as JSON in doc; state, kept beside
-- it, finds the tasks the worker has still to run.
CREATE TABLE bundle_tasks (
	region     {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	account_id {{text}} NOT NULL,
	state      {{text}} NOT NULL,
	doc        {{text}} NOT NULL
);
CREATE INDEX bundle_tasks_by_owner ON bundle_tasks (region, account_id, id);
CREATE INDEX bundle_tasks_by_state ON bundle_tasks (state, region, id);
`},
	{Version: 16, Name: "auto scaling groups", SQL: `
-- Auto Scaling groups (issue 18):
-- the whole record (instances, launches, activities, refreshes) as JSON
-- in doc. A name is unique among an account's groups in a region.
CREATE TABLE autoscaling_groups (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	name       {{text}} NOT NULL,
	doc        {{text}} NOT NULL,
	PRIMARY KEY (region, account_id, name)
);
`},
	// The import slice's migration: 17, after bundle tasks' 15 and
	// Auto Scaling's 16 (the lead's placeholder was 30).
	{Version: 17, Name: "import tasks", SQL: `
-- ImportImage and ImportSnapshot tasks, by region and id; doc is the whole
-- openami.ImportTask as JSON. account_id is a column for listing an
-- account's tasks in id order.
CREATE TABLE import_tasks (
	region     {{text}} NOT NULL,
	id         {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	doc        {{text}} NOT NULL,
	PRIMARY KEY (region, id)
);
CREATE INDEX import_tasks_account ON import_tasks (region, account_id, id);
`},
	// The export slice's migration (issue 16 item 2): placeholder 31 in
	// the plan, 18 after the import tasks' 17.
	{Version: 18, Name: "export tasks", SQL: `
-- ExportImage tasks: the columns listings and the worker select on and
-- the whole openami.ExportTask as JSON in doc.
CREATE TABLE export_tasks (
	region     {{text}} NOT NULL,
	account_id {{text}} NOT NULL,
	id         {{text}} NOT NULL PRIMARY KEY,
	state      {{text}} NOT NULL,
	doc        {{text}} NOT NULL
);
CREATE INDEX export_tasks_by_owner ON export_tasks (region, account_id, id);
CREATE INDEX export_tasks_by_state ON export_tasks (state);
`},
	// The leases slice's migration (issue 17 item 2): 19 after the export
	// tasks' 18; self-contained, so the lead may renumber it.
	{Version: 19, Name: "leases", SQL: `
-- Leases under which nodes do durable work (metadata.Leases): the holder
-- ('' once released), the epoch (how many tenures the lease has had) and
-- when the tenure expires, in microseconds since the Unix epoch by the
-- database's clock.
CREATE TABLE leases (
	name    {{text}} NOT NULL PRIMARY KEY,
	holder  {{text}} NOT NULL,
	epoch   BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
`},
	// The fleet-rest slice's migration (issue 18: snapshot tiers): 20
	// after the leases' 19; new columns only.
	{Version: 20, Name: "snapshot tiers", SQL: `
-- A snapshot's storage tier and last archive or restore, as JSON ('' for
-- a snapshot never archived), and when the worker next has a step of it
-- to take (0: none), which the worker selects on.
ALTER TABLE snapshots ADD COLUMN tiering {{text}} NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN tiering_due BIGINT NOT NULL DEFAULT 0;
CREATE INDEX snapshots_by_tiering_due ON snapshots (tiering_due) WHERE tiering_due > 0;
`},
	// The hosts slice's migration (issue 17 items 3 and 4): 21 after the
	// snapshot tiers' 20; self-contained, so the lead may renumber it.
	{Version: 21, Name: "compute hosts", SQL: `
-- Compute hosts: the whole openami.Host as JSON in doc, heartbeat and
-- fencing epoch included (docs/HOSTS.md).
CREATE TABLE hosts (
	id  {{text}} NOT NULL PRIMARY KEY,
	doc {{text}} NOT NULL
);
`},
}

// Migrations returns a copy of the schema's migrations, in order.
func Migrations() []Migration {
	return append([]Migration(nil), migrations...)
}

// Migrate applies to db, in order, every migration up to and including
// version target that the database has not yet recorded, each in its own
// transaction. It returns an error wrapping ErrNewerSchema if the database
// records a version newer than this binary knows, and an error naming the
// migration if one fails; the migrations before it stay applied.
func Migrate(ctx context.Context, db *sql.DB, d *Dialect, target int) error {
	if target < 0 || target > len(migrations) {
		return fmt.Errorf("sqldb: migrate: no schema version %d (latest is %d)", target, len(migrations))
	}
	for {
		done, err := migrateStep(ctx, db, d, target)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies the next pending migration, if it is at most target.
// done reports that nothing was left to apply.
//
// The transaction uses the pool's default options, not d.WriteTx: on
// PostgreSQL the migration lock is taken by the first statement, so the
// transaction must be READ COMMITTED for later statements to see what the
// migrator that held the lock before committed. On SQLite the write pool's
// BEGIN IMMEDIATE serialises migrators by itself.
func migrateStep(ctx context.Context, db *sql.DB, d *Dialect, target int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqldb: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.LockMigrations); err != nil {
			return false, fmt.Errorf("sqldb: migrate: lock: %w", err)
		}
	}
	v, err := schemaVersion(ctx, tx, d)
	if err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("sqldb: %s database has schema version %d, this binary knows up to %d: %w",
			d.Name, v, len(migrations), ErrNewerSchema)
	}
	if v < target {
		m := migrations[v]
		if _, err := tx.ExecContext(ctx, d.expand(m.SQL)); err != nil {
			return false, fmt.Errorf("sqldb: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			m.Version, m.Name, time.Now().UnixNano()); err != nil {
			return false, fmt.Errorf("sqldb: migration %d (%s): record: %w", m.Version, m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqldb: migrate: commit: %w", err)
	}
	return v >= target, nil
}

// schemaVersion creates schema_migrations if it does not exist yet and
// returns the highest version recorded in it, 0 for a new database.
func schemaVersion(ctx context.Context, tx *sql.Tx, d *Dialect) (int, error) {
	if _, err := tx.ExecContext(ctx, d.expand(`CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       {{text}} NOT NULL,
	applied_at BIGINT NOT NULL
)`)); err != nil {
		return 0, fmt.Errorf("sqldb: migrate: create schema_migrations: %w", err)
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqldb: migrate: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// SchemaVersion returns the schema version db records: the number of
// migrations applied to it, 0 for a new database. It creates the
// schema_migrations table if it does not exist.
func SchemaVersion(ctx context.Context, db *sql.DB, d *Dialect) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqldb: schema version: begin: %w", err)
	}
	defer tx.Rollback()
	if d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.LockMigrations); err != nil {
			return 0, fmt.Errorf("sqldb: schema version: lock: %w", err)
		}
	}
	v, err := schemaVersion(ctx, tx, d)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqldb: schema version: commit: %w", err)
	}
	return v, nil
}
