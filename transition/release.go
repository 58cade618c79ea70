package transition

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Record kinds of release and deployment management.
const (
	KindRelease    = "release"    // releases, numbered RLSE0000001
	KindDeployment = "deployment" // deployments of a release to an environment, numbered DEP0000001
)

// Release states and events.
const (
	ReleasePlanning = "planning"
	ReleaseBuild    = "build"
	ReleaseTest     = "test"
	ReleaseDeploy   = "deploy"
	ReleaseReview   = "review"
	ReleaseClosed   = "closed"
	ReleaseCanceled = "canceled"

	ReleaseEventBuild  = "build"
	ReleaseEventTest   = "test"
	ReleaseEventDeploy = "deploy"
	ReleaseEventReview = "review"
	ReleaseEventClose  = "close"
	ReleaseEventCancel = "cancel"
)

// Deployment states and events.
const (
	DeploymentPlanned    = "planned"
	DeploymentInProgress = "in_progress"
	DeploymentDeployed   = "deployed"
	DeploymentFailed     = "failed"
	DeploymentRolledBack = "rolled_back"
	DeploymentCanceled   = "canceled"

	DeploymentEventStart    = "start"
	DeploymentEventComplete = "complete"
	DeploymentEventFail     = "fail"
	DeploymentEventRollback = "rollback"
	DeploymentEventCancel   = "cancel"
)

// Release groups changes that are built, tested and deployed together.
type Release struct {
	itsm.Record
	ShortDescription string    `json:"short_description"`
	Version          string    `json:"release_version"` // not "version": that member is the record's own
	ServiceID        string    `json:"service_id,omitempty"`
	ChangeIDs        []string  `json:"change_ids,omitempty"`
	Environments     []string  `json:"environments,omitempty"` // in promotion order, for example test, staging, production
	PlannedStart     time.Time `json:"planned_start,omitzero"`
	PlannedEnd       time.Time `json:"planned_end,omitzero"`
	ReviewOutcome    string    `json:"review_outcome,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the release's fields.
func (r *Release) Validate() error {
	ve := &itsm.ValidationError{Kind: KindRelease, ID: r.ID}
	checkFields(ve, r)
	if r.ShortDescription == "" {
		ve.Add("short_description", "is required")
	}
	if r.Version == "" {
		ve.Add("version", "is required")
	}
	if !r.PlannedStart.IsZero() && !r.PlannedEnd.After(r.PlannedStart) {
		ve.Add("planned_end", "is not after planned start")
	}
	if slices.Contains(r.Environments, "") {
		ve.Add("environments", "an empty environment name")
	}
	return ve.Err()
}

// Deployment is one release deployed to one environment, which can be rolled
// back.
type Deployment struct {
	itsm.Record
	ReleaseID    string    `json:"release_id"`
	Version      string    `json:"release_version"` // not "version": that member is the record's own
	Environment  string    `json:"environment"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	RolledBackAt time.Time `json:"rolled_back_at,omitzero"`
	Notes        string    `json:"notes,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the deployment's fields.
func (d *Deployment) Validate() error {
	ve := &itsm.ValidationError{Kind: KindDeployment, ID: d.ID}
	checkFields(ve, d)
	if d.ReleaseID == "" {
		ve.Add("release_id", "is required")
	}
	if d.Environment == "" {
		ve.Add("environment", "is required")
	}
	return ve.Err()
}

// ReleaseLifecycle returns the release lifecycle: planning → build → test →
// deploy → review → closed, canceled from any open state. NewReleases adds
// the guard that refuses deploy while a change of the release is not
// authorised.
func ReleaseLifecycle() *itsm.Lifecycle[*Release] {
	return itsm.NewLifecycle[*Release](KindRelease).
		Initial(ReleasePlanning).
		States(ReleaseBuild, ReleaseTest, ReleaseDeploy, ReleaseReview).
		Final(ReleaseClosed, ReleaseCanceled).
		Event(ReleaseEventBuild, ReleaseBuild, ReleasePlanning).
		Event(ReleaseEventTest, ReleaseTest, ReleaseBuild).
		Event(ReleaseEventDeploy, ReleaseDeploy, ReleaseTest).
		Event(ReleaseEventReview, ReleaseReview, ReleaseDeploy).
		Event(ReleaseEventClose, ReleaseClosed, ReleaseReview).
		Event(ReleaseEventCancel, ReleaseCanceled, ReleasePlanning, ReleaseBuild, ReleaseTest, ReleaseDeploy).
		Guard(ReleaseEventBuild, "has_changes", func(_ context.Context, r *Release, _ itsm.Transition) error {
			if len(r.ChangeIDs) == 0 {
				return errors.New("a release groups at least one change")
			}
			return nil
		}).
		Guard(ReleaseEventClose, "review_outcome", func(_ context.Context, r *Release, _ itsm.Transition) error {
			if !slices.Contains([]string{OutcomeSuccessful, OutcomeFailed, OutcomeBackedOut}, r.ReviewOutcome) {
				return errors.New("closing needs a review outcome (successful, failed or backed_out)")
			}
			return nil
		})
}

// DeploymentLifecycle returns the deployment lifecycle: planned →
// in_progress → deployed or failed → rolled_back; a planned deployment may
// be canceled. NewReleases adds the guard that refuses to start while the
// release is not in deploy or a change of it is not authorised.
func DeploymentLifecycle() *itsm.Lifecycle[*Deployment] {
	return itsm.NewLifecycle[*Deployment](KindDeployment).
		Initial(DeploymentPlanned).
		States(DeploymentInProgress, DeploymentDeployed, DeploymentFailed).
		Final(DeploymentRolledBack, DeploymentCanceled).
		Event(DeploymentEventStart, DeploymentInProgress, DeploymentPlanned).
		Event(DeploymentEventComplete, DeploymentDeployed, DeploymentInProgress).
		Event(DeploymentEventFail, DeploymentFailed, DeploymentInProgress).
		Event(DeploymentEventRollback, DeploymentRolledBack, DeploymentDeployed, DeploymentFailed).
		Event(DeploymentEventCancel, DeploymentCanceled, DeploymentPlanned).
		Guard(DeploymentEventRollback, "needs_reason", itsm.NeedsReason[*Deployment]("a rollback needs a reason")).
		Effect(DeploymentEventStart, "stamp_started_at", itsm.StampAt(func(d *Deployment) *time.Time { return &d.StartedAt })).
		Effect(DeploymentEventComplete, "stamp_finished_at", itsm.StampAt(func(d *Deployment) *time.Time { return &d.FinishedAt })).
		Effect(DeploymentEventFail, "stamp_finished_at", itsm.StampAt(func(d *Deployment) *time.Time { return &d.FinishedAt })).
		Effect(DeploymentEventRollback, "stamp_rolled_back_at", itsm.StampAt(func(d *Deployment) *time.Time { return &d.RolledBackAt }))
}

// ReleaseCollection declares how releases are stored.
func ReleaseCollection() *storage.Collection[Release, *Release] {
	return storage.NewCollection[Release](KindRelease,
		storage.StringField("version", func(r *Release) string { return r.Version }),
		storage.StringField("service_id", func(r *Release) string { return r.ServiceID }))
}

// DeploymentCollection declares how deployments are stored, with an index
// listing a release's deployments per environment by creation.
func DeploymentCollection() *storage.Collection[Deployment, *Deployment] {
	return storage.NewCollection[Deployment](KindDeployment,
		storage.StringField("release_id", func(d *Deployment) string { return d.ReleaseID }),
		storage.StringField("environment", func(d *Deployment) string { return d.Environment }),
	).WithIndex("deployments_by_release", "release_id", "created_at")
}

// ReleasesConfig configures release management.
type ReleasesConfig struct {
	Lifecycle           *itsm.Lifecycle[*Release]    // ReleaseLifecycle()
	DeploymentLifecycle *itsm.Lifecycle[*Deployment] // DeploymentLifecycle()
	Clock               itsm.Clock
	Authorizer          itsm.Authorizer
	// Changes is required: a release cannot deploy while its changes are
	// not authorised.
	Changes *Changes
	// Dictionary declares the host's custom fields on releases and deployments, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// Releases is release and deployment management.
type Releases struct {
	backend     storage.Backend
	changes     *Changes
	releases    *storage.Records[Release, *Release]
	deployments *storage.Records[Deployment, *Deployment]
}

// NewReleases registers the release kinds and returns the service.
func NewReleases(ctx context.Context, b storage.Backend, cfg ReleasesConfig) (*Releases, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("releases: nil context")
	}
	if b == nil || cfg.Changes == nil {
		return nil, itsm.Invalidf("releases: backend and changes are required")
	}
	if cfg.Lifecycle == nil {
		cfg.Lifecycle = ReleaseLifecycle()
	}
	if cfg.DeploymentLifecycle == nil {
		cfg.DeploymentLifecycle = DeploymentLifecycle()
	}
	r := &Releases{backend: b, changes: cfg.Changes}
	relM, err := cfg.Lifecycle.Clone().Guard(ReleaseEventDeploy, "changes_authorised", r.changesAuthorised).Compile()
	if err != nil {
		return nil, err
	}
	depM, err := cfg.DeploymentLifecycle.Clone().Guard(DeploymentEventStart, "release_deployable", r.deployable).Compile()
	if err != nil {
		return nil, err
	}
	rc, dc := ReleaseCollection().WithDictionary(cfg.Dictionary), DeploymentCollection().WithDictionary(cfg.Dictionary)
	if err := rc.Register(ctx, b); err != nil {
		return nil, err
	}
	if err := dc.Register(ctx, b); err != nil {
		return nil, err
	}
	conf := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry, Prefix: "RLSE"}
	if r.releases, err = storage.NewRecords(b, rc, relM, conf); err != nil {
		return nil, err
	}
	conf.Prefix = "DEP"
	if r.deployments, err = storage.NewRecords(b, dc, depM, conf); err != nil {
		return nil, err
	}
	return r, nil
}

// changesAuthorised refuses when a change of the release is not approved
// or has been canceled.
func (r *Releases) changesAuthorised(ctx context.Context, rel *Release, _ itsm.Transition) error {
	var bad []string
	for _, id := range rel.ChangeIDs {
		c, err := r.changes.Get(ctx, id)
		if err != nil {
			return err
		}
		if c.Approval != ApprovalApproved || c.State == ChangeCanceled {
			bad = append(bad, fmt.Sprintf("%s (%s, approval %s)", c.Number, c.State, c.Approval))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("changes not authorised: %s", strings.Join(bad, ", "))
	}
	return nil
}

func (r *Releases) deployable(ctx context.Context, d *Deployment, tr itsm.Transition) error {
	rel, err := r.releases.Get(ctx, d.ReleaseID)
	if err != nil {
		return err
	}
	if rel.State != ReleaseDeploy {
		return fmt.Errorf("release %s is in %s, not deploy", rel.Number, rel.State)
	}
	return r.changesAuthorised(ctx, rel, tr)
}

// Create plans a release.
func (r *Releases) Create(ctx context.Context, rel *Release, cmd storage.Command) error {
	return r.releases.Create(ctx, rel, cmd)
}

// Get reads one release.
func (r *Releases) Get(ctx context.Context, id string) (*Release, error) {
	return r.releases.Get(ctx, id)
}

// Fire applies a lifecycle event to the release.
func (r *Releases) Fire(ctx context.Context, id, event string, cmd storage.Command, mutate func(*Release) error) (*Release, error) {
	if err := needEvent(KindRelease, id, event); err != nil {
		return nil, err
	}
	return r.releases.Fire(ctx, id, event, cmd, mutate)
}

// AddChange puts a change into a release, recording the release on the
// change too, in one unit of work. The release must be in planning or build
// and the change open and in no other release.
func (r *Releases) AddChange(ctx context.Context, releaseID, changeID string, cmd storage.Command) (*Release, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("release: nil context")
	}
	var out *Release
	err := r.backend.Update(ctx, func(tx storage.Tx) error {
		rel, err := r.releases.Collection().Get(ctx, tx, releaseID)
		if err != nil {
			return err
		}
		if rel.State != ReleasePlanning && rel.State != ReleaseBuild {
			return &itsm.TransitionError{Kind: KindRelease, ID: rel.ID, Number: rel.Number, From: rel.State, Event: "add_change",
				Reason: "changes are added while the release is in planning or build"}
		}
		ch, err := r.changes.changes.ChangeTx(ctx, tx, changeID, cmd, func(c *Change) error {
			switch {
			case !c.Open():
				return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("release_id", "the change is "+c.State)
			case c.ReleaseID != "" && c.ReleaseID != releaseID:
				return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("release_id", "the change belongs to release "+c.ReleaseID)
			}
			c.ReleaseID = releaseID
			return nil
		})
		if err != nil {
			return err
		}
		out, err = r.releases.ChangeTx(ctx, tx, releaseID, cmd, func(x *Release) error {
			if !slices.Contains(x.ChangeIDs, ch.ID) {
				x.ChangeIDs = append(x.ChangeIDs, ch.ID)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Deploy plans and starts a deployment of the release to an environment
// (one of the release's environments when it lists them). It is refused
// while the release is not in deploy or any of its changes is not
// authorised; a refusal writes nothing.
func (r *Releases) Deploy(ctx context.Context, releaseID, env string, cmd storage.Command) (*Deployment, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("deployment: nil context")
	}
	rel, err := r.releases.Get(ctx, releaseID)
	if err != nil {
		return nil, err
	}
	if len(rel.Environments) > 0 && !slices.Contains(rel.Environments, env) {
		return nil, (&itsm.ValidationError{Kind: KindDeployment}).Add("environment", fmt.Sprintf("%q is not an environment of release %s (%v)", env, rel.Number, rel.Environments))
	}
	// Check before drawing a number; the start guard checks again inside.
	if err := r.deployable(ctx, &Deployment{ReleaseID: rel.ID}, itsm.Transition{}); err != nil {
		return nil, &itsm.TransitionError{Kind: KindDeployment, From: DeploymentPlanned, Event: DeploymentEventStart, Guard: "release_deployable", Reason: err.Error()}
	}
	var out *Deployment
	err = r.backend.Update(ctx, func(tx storage.Tx) error {
		d := &Deployment{ReleaseID: rel.ID, Version: rel.Version, Environment: env}
		if err := r.deployments.CreateTx(ctx, tx, d, cmd); err != nil {
			return err
		}
		var err error
		out, err = r.deployments.FireTx(ctx, tx, d.ID, DeploymentEventStart, cmd, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FireDeployment applies complete, fail, rollback (with a reason) or cancel
// to a deployment.
func (r *Releases) FireDeployment(ctx context.Context, id, event string, cmd storage.Command) (*Deployment, error) {
	if err := needEvent(KindDeployment, id, event); err != nil {
		return nil, err
	}
	return r.deployments.Fire(ctx, id, event, cmd, nil)
}

// Deployments lists a release's deployments, oldest first.
func (r *Releases) Deployments(ctx context.Context, releaseID string) ([]*Deployment, error) {
	// The release is read first: an unknown or unreadable release is
	// refused, not answered with no deployments.
	if _, err := r.releases.Get(ctx, releaseID); err != nil {
		return nil, err
	}
	q := storage.Query{Filters: []storage.Filter{storage.Eq("release_id", storage.String(releaseID))},
		Sort: []storage.Sort{{Field: "created_at"}}, Limit: storage.MaxLimit}
	return r.deployments.All(ctx, q)
}
