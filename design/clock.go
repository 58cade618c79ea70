package design

import (
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ClockKind is the record kind of SLA clocks, as ServiceNow names them.
const ClockKind = "task_sla"

// The stages (lifecycle states) of a clock.
const (
	StageInProgress = "in_progress"
	StagePaused     = "paused"
	StageCompleted  = "completed"
	StageCanceled   = "canceled"
)

// SLAClock is the SLA clock of one record under one definition (ServiceNow's
// task_sla). Its state is its stage; the engine moves it with the events
// pause, resume, complete, cancel, reopen and restart, and records
// warnings and breach with update events.
//
// Elapsed business time while running is ElapsedBefore plus the calendar
// time since RunningSince; the stored BusinessElapsed and Percentage are as
// of EvaluatedAt.
type SLAClock struct {
	itsm.Record
	DefinitionID string `json:"definition_id"`
	// DefinitionVersion is the version of the definition record the clock
	// runs under (0: the definition declared in EngineConfig.Definitions,
	// as clocks of older releases were written). A clock keeps it when the
	// definition changes, unless the change recomputes running clocks.
	DefinitionVersion int64 `json:"definition_version,omitempty"`
	// CalendarVersion is the version of the calendar record the clock's
	// time runs on (0: the calendar given in EngineConfig.Calendars, or
	// round the clock).
	CalendarVersion int64         `json:"calendar_version,omitempty"`
	Type            AgreementType `json:"type"`
	Metric          Metric        `json:"metric"`
	TaskKind        string        `json:"task_kind"`
	TaskID          string        `json:"task_id"`
	TaskNumber      string        `json:"task_number,omitempty"`
	Priority        int           `json:"priority"`
	ServiceID       string        `json:"service_id,omitempty"`
	AssignmentGroup string        `json:"assignment_group,omitempty"`
	Calendar        string        `json:"calendar,omitempty"`
	Target          time.Duration `json:"target"` // business time allowed, nanoseconds in JSON
	StartTime       time.Time     `json:"start_time"`
	StopTime        time.Time     `json:"stop_time,omitzero"`
	RunningSince    time.Time     `json:"running_since,omitzero"`
	PausedAt        time.Time     `json:"paused_at,omitzero"`
	ElapsedBefore   time.Duration `json:"elapsed_before"`
	BusinessElapsed time.Duration `json:"business_elapsed"`
	Percentage      float64       `json:"business_percentage"`
	EvaluatedAt     time.Time     `json:"evaluated_at"`
	DueAt           time.Time     `json:"due_at,omitzero"`        // planned end while running
	NextCheckAt     time.Time     `json:"next_check_at,omitzero"` // next warning or breach, while running
	Warnings        []int         `json:"warnings,omitempty"`     // thresholds reached, percent
	Breached        bool          `json:"has_breached"`
	BreachedAt      time.Time     `json:"breached_at,omitzero"`
	ResetCount      int           `json:"reset_count,omitempty"`
}

// clockLifecycle is the default lifecycle of clocks.
func clockLifecycle() *itsm.Lifecycle[*SLAClock] {
	return itsm.NewLifecycle[*SLAClock](ClockKind).
		Initial(StageInProgress).States(StagePaused, StageCompleted, StageCanceled).
		Event("pause", StagePaused, StageInProgress).
		Event("resume", StageInProgress, StagePaused).
		Event("complete", StageCompleted, StageInProgress, StagePaused).
		Event("cancel", StageCanceled, StageInProgress, StagePaused, StageCompleted).
		Event("reopen", StageInProgress, StageCompleted).
		Event("restart", StageInProgress, StageCanceled)
}

// clockPath lists the events that take a clock from one stage to another.
func clockPath(from, to string) []string {
	if from == to {
		return nil
	}
	switch from {
	case StageInProgress:
		return []string{map[string]string{StagePaused: "pause", StageCompleted: "complete", StageCanceled: "cancel"}[to]}
	case StagePaused:
		return []string{map[string]string{StageInProgress: "resume", StageCompleted: "complete", StageCanceled: "cancel"}[to]}
	case StageCompleted:
		if to == StageCanceled {
			return []string{"cancel"}
		}
		return append([]string{"reopen"}, clockPath(StageInProgress, to)...)
	case StageCanceled:
		return append([]string{"restart"}, clockPath(StageInProgress, to)...)
	}
	return nil
}

func clockCollection() *storage.Collection[SLAClock, *SLAClock] {
	return storage.NewCollection[SLAClock]("task_sla",
		storage.StringField("definition_id", func(c *SLAClock) string { return c.DefinitionID }),
		storage.StringField("task_id", func(c *SLAClock) string { return c.TaskID }),
		storage.StringField("task_kind", func(c *SLAClock) string { return c.TaskKind }),
		storage.TimeField("due_at", func(c *SLAClock) time.Time { return c.DueAt }),
		storage.TimeField("next_check_at", func(c *SLAClock) time.Time { return c.NextCheckAt }),
	).WithIndex("by_stage_next_check", "state", "next_check_at").
		WithIndex("by_stage_due", "state", "due_at").
		WithIndex("by_stage_kind_due", "state", "task_kind", "due_at").
		WithIndex("by_definition_stage_task", "definition_id", "state", "task_id")
}

// Validate checks the fields every clock needs.
func (c *SLAClock) Validate() error {
	verr := &itsm.ValidationError{Kind: ClockKind, ID: c.ID}
	if c.DefinitionID == "" {
		verr.Add("definition_id", "is required")
	}
	if c.TaskID == "" || c.TaskKind == "" {
		verr.Add("task_id", "task kind and id are required")
	}
	if c.Target <= 0 {
		verr.Add("target", "must be positive")
	}
	return verr.Err()
}

// timeline is a clock's position computed from a record's history.
type timeline struct {
	started                bool
	stage                  string
	subject                subject
	target                 time.Duration
	start, stop            time.Time
	runningSince, pausedAt time.Time
	elapsedBefore          time.Duration
	breached               bool
	breachedAt             time.Time
	resets                 int
	number                 string
	lastAt                 time.Time
}
