package handler

import (
	"context"
	"errors"

	"github.com/trailguard/trailguard/pkg/state"
)

// errNoTable is the error of every sweep record call without a state table.
var errNoTable = errors.New("sweep record: TRAILGUARD_TABLE is not set")

// missingTable is the sweep record of a worker deployed without the state
// table: every call fails with errNoTable.
type missingTable struct{}

func (missingTable) Start(context.Context, string, int) error { return errNoTable }
func (missingTable) Complete(context.Context, string, int, state.ItemCounts, string) (state.SweepRecord, bool, error) {
	return state.SweepRecord{}, false, errNoTable
}
func (missingTable) Claim(context.Context, string) (bool, error)           { return false, errNoTable }
func (missingTable) Notes(context.Context, string) (map[int]string, error) { return nil, errNoTable }
