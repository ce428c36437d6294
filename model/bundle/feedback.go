package bundle

import (
	"encoding/json"
	"fmt"
	"time"
)

// Feedback actions: what an operator says about a content.
const (
	FeedbackNormal    = "normal"    // sessions of this content are normal
	FeedbackAnomalous = "anomalous" // sessions of this content are anomalous
	FeedbackSuppress  = "suppress"  // never flag this content, whatever the model says
)

// Feedback is one operator label as the bundle keeps it: what was said, about
// which content, by whom, when and why. Undoing keeps the entry (with Undone
// set) so that the bundle stays an audit trail.
type Feedback struct {
	ID        string    `json:"id"`     // "fb-N", in order of arrival
	Action    string    `json:"action"` // FeedbackNormal, FeedbackAnomalous or FeedbackSuppress
	Key       string    `json:"key"`    // content key the label applies to (the memory's item key)
	SessionID string    `json:"session_id,omitempty"`
	Lines     []string  `json:"lines"` // the labelled session's text, capped as memory items are
	Who       string    `json:"who,omitempty"`
	Why       string    `json:"why,omitempty"`
	Time      time.Time `json:"time"`
	// Undone is when the label was withdrawn (zero while it stands), and by whom.
	Undone   time.Time `json:"undone,omitzero"`
	UndoneBy string    `json:"undone_by,omitempty"`
}

// Active reports whether the label stands.
func (f Feedback) Active() bool { return f.Undone.IsZero() }

// Label is the memory label of a normal or anomalous action (-1 for suppress).
func (f Feedback) Label() int {
	switch f.Action {
	case FeedbackNormal:
		return 0
	case FeedbackAnomalous:
		return 1
	}
	return -1
}

// ValidFeedbackAction reports whether a is one of the three actions.
func ValidFeedbackAction(a string) bool {
	return a == FeedbackNormal || a == FeedbackAnomalous || a == FeedbackSuppress
}

// maxFeedbackDecoded bounds the entries a decoder accepts.
const maxFeedbackDecoded = 1_000_000

func decodeFeedback(p []byte) ([]Feedback, error) {
	var fb []Feedback
	if err := json.Unmarshal(p, &fb); err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	if len(fb) > maxFeedbackDecoded {
		return nil, fmt.Errorf("feedback: %d entries", len(fb))
	}
	seen := make(map[string]bool, len(fb))
	for i, f := range fb {
		switch {
		case f.ID == "" || seen[f.ID]:
			return nil, fmt.Errorf("feedback: entry %d has an empty or repeated id %q", i, f.ID)
		case !ValidFeedbackAction(f.Action):
			return nil, fmt.Errorf("feedback: entry %s has action %q", f.ID, f.Action)
		case f.Key == "":
			return nil, fmt.Errorf("feedback: entry %s has no content key", f.ID)
		}
		seen[f.ID] = true
	}
	return fb, nil
}
