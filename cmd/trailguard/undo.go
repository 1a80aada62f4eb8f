package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trailguard/trailguard/pkg/changelog"
	"github.com/trailguard/trailguard/pkg/config"
	"github.com/trailguard/trailguard/pkg/reconcile"
	"github.com/trailguard/trailguard/pkg/state"
)

// undoCmd is `trailguard undo CHANGE-ID`.
func (a *app) undoCmd() *cobra.Command {
	var tf tableFlag
	cmd := &cobra.Command{
		Use:   "undo CHANGE-ID",
		Short: "Restore what a recorded change replaced, only if nobody changed it since",
		Long: `Restores the value a change of the change log (trailguard history) replaced: the key policy
before a PutKeyPolicy, or the trail's key before an UpdateTrail. It does so only while the
resource still holds exactly what trailguard wrote: a later edit by anyone else is never
overwritten. It also refuses what would break a trail (a key policy CloudTrail could not use
for a trail still on the key: move the trail first; a trail back to no encryption) and what
trailguard never does (disabling a key, scheduling its deletion, turning rotation off). The
undo takes the key's lease and is itself recorded (writer "cli"); the original is marked undone.
A trail that still breaks a rule afterwards is fixed again by the next event or sweep.

Exit codes: 0 restored, 1 refused (nothing was written; the message says why), 2 error.`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := tf.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			s, st, err := a.stateSession(ctx, "undo", &tf, config.Enforce)
			if err != nil {
				return err
			}
			r := a.reconciler(s, reconcile.WithStore(st), reconcile.WithSource(cliWriter))
			undone, err := r.Undo(ctx, args[0])
			if errors.Is(err, reconcile.ErrUndoRefused) {
				return &exitCodeError{code: exitFindings, err: fmt.Errorf("%w; nothing was written", err)}
			}
			if errors.Is(err, state.ErrNotFound) {
				return fmt.Errorf("undo: no change %s in table %s (see trailguard history)", args[0], st.Table())
			}
			if err != nil {
				return fmt.Errorf("undo %s: %w", args[0], err)
			}
			return changelog.WriteUndo(a.stdout, args[0], undone)
		}),
	}
	tf.register(cmd)
	return cmd
}
