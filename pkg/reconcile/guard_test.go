package reconcile

import (
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	g := NewGuard(2, time.Hour, func() time.Time { return now })
	type step struct {
		after     time.Duration
		resource  string
		ok, alert bool
	}
	steps := []step{
		{0, "a", true, false},
		{time.Minute, "a", true, false},
		{time.Minute, "a", false, true},      // third in the hour: refused, alert once
		{time.Minute, "a", false, false},     // still refused, no second alert
		{time.Minute, "b", true, false},      // other resources are independent
		{58 * time.Minute, "a", true, false}, // both attempts left the window
		{time.Minute, "a", true, false},
		{time.Minute, "a", false, true}, // refused; the last alert left the window
		{time.Minute, "a", false, false},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		ok, alert := g.Allow(s.resource)
		if ok != s.ok || alert != s.alert {
			t.Errorf("step %d (%s): Allow = %v, %v; want %v, %v", i, s.resource, ok, alert, s.ok, s.alert)
		}
	}
}

func TestGuardMinimum(t *testing.T) {
	g := NewGuard(0, time.Hour, nil)
	if ok, _ := g.Allow("x"); !ok {
		t.Fatal("first attempt refused")
	}
	if ok, alert := g.Allow("x"); ok || !alert {
		t.Errorf("max < 1 should mean 1: second Allow = %v, %v", ok, alert)
	}
}
