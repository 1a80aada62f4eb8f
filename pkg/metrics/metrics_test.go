package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// emf is the part of an EMF line the test checks.
type emf struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
}

func TestWrite(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name  string
		run   Run
		lines int
		check func(t *testing.T, objs []map[string]any)
	}{
		{
			name:  "nothing found",
			run:   Run{Function: "trailguard-sweeper", Duration: 1500 * time.Microsecond, Trails: 3},
			lines: 1,
			check: func(t *testing.T, objs []map[string]any) {
				if objs[0]["Function"] != "trailguard-sweeper" || objs[0]["Trails"] != 3.0 || objs[0]["Duration"] != 1.5 || objs[0]["Failures"] != 0.0 {
					t.Errorf("summary line %v", objs[0])
				}
			},
		},
		{
			name: "findings and fixes",
			run: Run{Function: "f", Trails: 2, Failures: 1,
				Findings: map[string]int{"trail-not-encrypted": 2, "key-disabled": 1},
				Fixes:    map[string]int{"UpdateTrail": 2}},
			lines: 4,
			check: func(t *testing.T, objs []map[string]any) {
				if objs[1]["Rule"] != "key-disabled" || objs[1]["Findings"] != 1.0 || objs[2]["Rule"] != "trail-not-encrypted" || objs[2]["Findings"] != 2.0 {
					t.Errorf("finding lines %v %v", objs[1], objs[2])
				}
				if objs[3]["Action"] != "UpdateTrail" || objs[3]["Fixes"] != 2.0 {
					t.Errorf("fix line %v", objs[3])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.run, now); err != nil {
				t.Fatal(err)
			}
			var objs []map[string]any
			sc := bufio.NewScanner(&buf)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				var e emf
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				// Every metric and dimension the directive names is a
				// top-level member (the EMF specification requires it).
				if e.AWS.Timestamp != now.UnixMilli() || len(e.AWS.CloudWatchMetrics) != 1 || e.AWS.CloudWatchMetrics[0].Namespace != Namespace {
					t.Errorf("metadata %+v", e.AWS)
				}
				for _, d := range e.AWS.CloudWatchMetrics[0].Dimensions {
					for _, name := range d {
						if _, ok := m[name].(string); !ok {
							t.Errorf("dimension %s missing or not a string in %v", name, m)
						}
					}
				}
				for _, mt := range e.AWS.CloudWatchMetrics[0].Metrics {
					if _, ok := m[mt.Name].(float64); !ok || mt.Unit == "" {
						t.Errorf("metric %+v missing or not a number in %v", mt, m)
					}
				}
				objs = append(objs, m)
			}
			if len(objs) != tt.lines {
				t.Fatalf("%d lines, want %d", len(objs), tt.lines)
			}
			tt.check(t, objs)
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestWriteError(t *testing.T) {
	if err := Write(failWriter{}, Run{Function: "f"}, time.Now()); err == nil {
		t.Error("write error not returned")
	}
}
