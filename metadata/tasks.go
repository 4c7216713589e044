// The records of the later EC2-side services: launch templates, SSM
// parameters, Auto Scaling groups and the long-running tasks of bundling,
// importing and exporting images.

package metadata

import (
	"github.com/openami/openami"
)

// LaunchTemplateQuery selects launch templates of one region, in id order.
type LaunchTemplateQuery struct {
	// AccountID keeps one account's templates ("" for every account).
	AccountID string
	// IDs and Names keep those templates only (none: every one).
	IDs   []string
	Names []string
	// After returns templates with ids strictly greater.
	After string
	// Limit is the most templates returned; 0 means no limit.
	Limit int
}

// VersionQuery selects versions of one launch template, in number order.
type VersionQuery struct {
	// Numbers keeps those versions only (none: every one).
	Numbers []int64
	// Min and Max bound the numbers (0: no bound).
	Min, Max int64
	// After returns versions with numbers strictly greater.
	After int64
	// Limit is the most versions returned; 0 means no limit.
	Limit int
}

// LaunchTemplates records launch templates and their versions. Template
// ids are unique across regions and accounts; a name is unique among an
// account's templates in a region.
type LaunchTemplates interface {
	// Create records a template with its first version. Duplicate (of
	// ResourceLaunchTemplate) if the id is taken or the account has a
	// template of that name in the region.
	Create(t openami.LaunchTemplate, first openami.LaunchTemplateVersion) error
	// Get returns a template of the region. NotFound if none.
	Get(region, id string) (openami.LaunchTemplate, error)
	// Update replaces the template's DefaultVersion and LatestVersion.
	// NotFound if none.
	Update(t openami.LaunchTemplate) error
	// Delete removes a template with every version. NotFound if none.
	Delete(region, id string) error
	// List returns the region's templates that q selects.
	List(region string, q LaunchTemplateQuery) ([]openami.LaunchTemplate, error)

	// AddVersion records a version of an existing template. Duplicate if
	// the template has that number; NotFound if there is no template.
	AddVersion(v openami.LaunchTemplateVersion) error
	// Version returns one version. NotFound if none.
	Version(templateID string, number int64) (openami.LaunchTemplateVersion, error)
	// Versions returns the template's versions that q selects.
	Versions(templateID string, q VersionQuery) ([]openami.LaunchTemplateVersion, error)
	// DeleteVersion removes one version. NotFound if none.
	DeleteVersion(templateID string, number int64) error
}

// Parameters records SSM parameters, every version of each: an account's
// (or, with AccountID openami.PublicParameterOwner, the operator's public
// ones) in a region, by name.
type Parameters interface {
	// Put records a version of a parameter. Duplicate (about
	// openami.ResourceParameter) if the name already has that version.
	Put(p openami.Parameter) error
	// Get returns a version of a name (version 0: the latest). NotFound
	// (about openami.ResourceParameter) if the name has no such version.
	Get(region, accountID, name string, version int64) (openami.Parameter, error)
	// Update rewrites a version that exists (its labels, the tags the
	// latest version carries). NotFound (about openami.ResourceParameter)
	// if it does not.
	Update(p openami.Parameter) error
	// History returns every version of a name, oldest first; none if the
	// name has none.
	History(region, accountID, name string) ([]openami.Parameter, error)
	// List returns the latest version of each of the account's parameters
	// whose name begins with prefix ("": every one) and sorts after after
	// (by bytes; "": from the first), in name order, at most limit of them
	// (0: every one).
	List(region, accountID, prefix, after string, limit int) ([]openami.Parameter, error)
	// Delete deletes every version of a name. NotFound (about
	// openami.ResourceParameter) if it has none.
	Delete(region, accountID, name string) error
	// DeleteVersion deletes one version of a name. NotFound (about
	// openami.ResourceParameter) if there is no such version.
	DeleteVersion(region, accountID, name string, version int64) error
}

// ExportTasks records ExportImage tasks by id.
type ExportTasks interface {
	// Create records a new task. Duplicate (about
	// openami.ResourceExportTask) if its id is taken.
	Create(t openami.ExportTask) error
	// Get returns a task of the region. NotFound (about
	// openami.ResourceExportTask) if there is none.
	Get(region, id string) (openami.ExportTask, error)
	// Update rewrites a task that exists. NotFound (about
	// openami.ResourceExportTask) if it does not.
	Update(t openami.ExportTask) error
	// List returns the account's tasks in the region with ids after after
	// ("": from the first), in id order, at most limit (0: every one).
	List(region, accountID, after string, limit int) ([]openami.ExportTask, error)
	// Active returns every task, of every region and account, in state
	// active or deleting: the worker's to run or to finish.
	Active() ([]openami.ExportTask, error)
}

// BundleTasks records BundleInstance's tasks. Ids are unique across
// regions.
type BundleTasks interface {
	// Create records a task. Duplicate if the id is taken.
	Create(b openami.BundleTask) error
	// Get returns the region's task with the id. NotFound (about
	// openami.ResourceBundleTask) if none.
	Get(region, id string) (openami.BundleTask, error)
	// List returns the account's tasks in the region, ordered by id.
	List(region, accountID string) ([]openami.BundleTask, error)
	// Active returns every region's tasks that have not ended (neither
	// complete nor failed), ordered by region, then id.
	Active() ([]openami.BundleTask, error)
	// Update replaces a task. NotFound if it does not exist.
	Update(b openami.BundleTask) error
}

// AutoScalingGroups records Auto Scaling groups, each whole (its
// instances, pending launches, activities and refreshes are in the
// record). A name is unique among an account's groups in a region.
type AutoScalingGroups interface {
	// Create records a group. Duplicate (of ResourceAutoScalingGroup) if
	// the account has a group of that name in the region.
	Create(g openami.AutoScalingGroup) error
	// Get returns a group. NotFound if none.
	Get(region, accountID, name string) (openami.AutoScalingGroup, error)
	// Put replaces a group's record. NotFound if none.
	Put(g openami.AutoScalingGroup) error
	// Delete removes a group. NotFound if none.
	Delete(region, accountID, name string) error
	// List returns the groups of an account in a region ("" region: every
	// region; "" account: every account) with names strictly after after,
	// in (region, account, name) order, at most limit of them (0: all).
	List(region, accountID, after string, limit int) ([]openami.AutoScalingGroup, error)
}

// ImportTasks records ImportImage and ImportSnapshot tasks, each a whole
// openami.ImportTask, by region and id.
type ImportTasks interface {
	// Put records a new task. Duplicate (about openami.ResourceImportTask)
	// if the region has one with its id.
	Put(t openami.ImportTask) error
	// Update rewrites a recorded task. NotFound (about
	// openami.ResourceImportTask) if there is none.
	Update(t openami.ImportTask) error
	// Get returns a task. NotFound (about openami.ResourceImportTask) if
	// the region has none with the id.
	Get(region, id string) (openami.ImportTask, error)
	// List returns the region's tasks of an account ("": every account's)
	// whose id sorts after after ("": from the first), in id order, at most
	// limit (0: every one).
	List(region, accountID, after string, limit int) ([]openami.ImportTask, error)
	// Delete forgets a task. NotFound (about openami.ResourceImportTask) if
	// there is none.
	Delete(region, id string) error
}
