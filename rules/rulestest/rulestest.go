// Package rulestest is what the tests of the rules packages, of the
// service and of an API over real rules share: the stores service.New
// is built over (SQLite and a directory blob store per region, in a
// test's temp dir), a clock the test moves by hand, rules/identity over
// them, and a fake runtime.
// Each package's fixture_test.go wires its own subsystem, and those
// between identity and it, over an Env, as service.New wires them.
//
// Only _test files import it (layers_test.go places it where no package
// may). Since a rules package's own tests import it (rules/network's and
// rules/kms's among them), it imports no rules package above
// rules/identity, which layers_test.go checks too.
package rulestest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata/sqldb"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/identity"
)

// Clock is a clock tests move by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t until it is moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is what the subsystems are built over, as service.New builds them:
// a SQLite store at Dir/metadata.db, closed when the test ends, a blob
// store per region under Dir/blocks/REGION, serving us-east-1 and
// us-west-2, a zero seal key, a page-token codec with a zero secret and
// a Clock.
type Env struct {
	Dir     string
	Store   *sqldb.Store
	Seal    *seal.Key
	Regions []openami.Region
	Blobs   map[string]blob.Store
	Tokens  *pagetoken.Codec
	Clock   *Clock
}

// Open opens an Env in dir, a new temp dir when "", with clock, a new
// Clock at the time now when nil. It fails the test when a store does
// not open.
func Open(t testing.TB, dir0 string, clock *Clock) *Env {
	t.Helper()
	if dir0 == "" {
		dir0 = t.TempDir()
	}
	if clock == nil {
		clock = NewClock(time.Now())
	}
	store, err := sqlite.Open(filepath.Join(dir0, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, err := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		b, err := dir.New(filepath.Join(dir0, "blocks", r.Name))
		if err != nil {
			t.Fatal(err)
		}
		blobs[r.Name] = b
	}
	return &Env{Dir: dir0, Store: store, Seal: key, Regions: regions, Blobs: blobs,
		Tokens: pagetoken.New(make([]byte, pagetoken.MinSecretSize)), Clock: clock}
}

// Identity returns rules/identity over the Env, as service.New builds it.
func (e *Env) Identity() *identity.Accounts {
	return identity.New(identity.Config{Store: e.Store, Seal: e.Seal, Regions: e.Regions, Clock: e.Clock.Now})
}

// NewAccount creates an account and returns its principal in us-east-1;
// it fails the test when the account cannot be created.
func NewAccount(t testing.TB, accounts *identity.Accounts, name string) openami.Principal {
	t.Helper()
	a, _, err := accounts.CreateAccount(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	return openami.Principal{AccountID: a.ID, Region: "us-east-1"}
}

// WantClass fails the test unless err is an *openami.Error of the class
// about the resource.
func WantClass(t *testing.T, what string, err error, class openami.Class, resource openami.ResourceType) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Resource != resource {
		t.Fatalf("%s: got %v, want %v on %q", what, err, class, resource)
	}
}

// WantEBSKeyError fails the test unless err is an *openami.Error of the
// class about the KMS key EBS was to use, which it may not
// (ReasonKeyUnusable).
func WantEBSKeyError(t *testing.T, what string, err error, class openami.Class) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Resource != openami.ResourceKMSKey || e.Reason != openami.ReasonKeyUnusable {
		t.Fatalf("%s: got %v, want a %v error about the EBS KMS key", what, err, class)
	}
}

// PlaintextAtRest reports which file under dir holds a 64-byte window of
// any of the blocks ("" when none does).
func PlaintextAtRest(t *testing.T, dir string, blocks ...[]byte) string {
	t.Helper()
	found := ""
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, blk := range blocks {
			for off := 0; off+64 <= len(blk); off += 64 * 1024 {
				if bytes.Contains(b, blk[off:off+64]) {
					found = path
					return nil
				}
			}
		}
		return nil
	})
	return found
}

// Block returns one block: random bytes for seed 0, else a pattern of
// the seed.
func Block(seed byte) []byte {
	b := make([]byte, openami.BlockSize)
	if seed == 0 {
		rand.Read(b)
		return b
	}
	for i := range b {
		b[i] = seed + byte(i%7)
	}
	return b
}

// Checksum returns the base64 SHA-256 of b, as PutSnapshotBlock takes it.
func Checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ChunkFiles counts the chunk files of us-east-1's blob store in an
// Env's Dir.
func ChunkFiles(dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "blocks", "us-east-1"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "chunks" {
			n++
		}
		return nil
	})
	return n
}

// Runtime is a fake openami.Runtime: it records the calls of Start,
// Stop and Terminate, holds Stop until Hold (when not nil) is closed and
// then fails it with what SetStopErr set, and, as a Watcher, reports
// the states SetState set (Start forgets an instance's). What it does
// not fake, the embedded Runtime does (the tests give it
// instances.NoneRuntime).
type Runtime struct {
	openami.Runtime
	Hold chan struct{}

	mu      sync.Mutex
	calls   []string
	stopErr error
	states  map[string]openami.VMState
}

func (r *Runtime) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

// Calls returns the calls made so far ("start ID", "stop ID",
// "terminate ID"), oldest first.
func (r *Runtime) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// ForgetCalls forgets the calls made so far.
func (r *Runtime) ForgetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// SetStopErr makes Stop fail with err (nil: succeed).
func (r *Runtime) SetStopErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopErr = err
}

// SetState makes VMState report st for the instance id.
func (r *Runtime) SetState(id string, st openami.VMState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states = map[string]openami.VMState{}
	}
	r.states[id] = st
}

// Start records the call and forgets the instance's state.
func (r *Runtime) Start(_ context.Context, i openami.Instance) error {
	r.record("start " + i.ID)
	r.mu.Lock()
	delete(r.states, i.ID)
	r.mu.Unlock()
	return nil
}

// Stop records the call, waits for Hold to close (when not nil) and
// returns what SetStopErr set.
func (r *Runtime) Stop(_ context.Context, i openami.Instance, _ bool) error {
	r.record("stop " + i.ID)
	if r.Hold != nil {
		<-r.Hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr
}

// Terminate records the call.
func (r *Runtime) Terminate(_ context.Context, i openami.Instance) error {
	r.record("terminate " + i.ID)
	return nil
}

// VMState returns the state SetState set for the instance (VMRunning when
// none).
func (r *Runtime) VMState(i openami.Instance) openami.VMState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[i.ID]
}
