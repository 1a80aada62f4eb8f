package demo

import (
	"context"
	"os"
	"testing"
)

func TestTmpRun(t *testing.T) {
	err := Run(context.Background(), os.Stdout, Options{})
	t.Log(err)
}
