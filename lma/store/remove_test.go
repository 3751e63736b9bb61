package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveGradually(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int64
		cancel bool
	}{
		{"empty", 0, false},
		{"one step", removeStep - 1, false},
		{"several steps", 3*removeStep + 5, false},
		{"context ended", 3 * removeStep, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wal-1.log")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(tc.size); err != nil { // sparse: no disk used
				t.Fatal(err)
			}
			f.Close()
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			if err := removeGradually(ctx, path); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after removeGradually: %v, want the file gone", err)
			}
		})
	}
	// A file that is not there is an error, as os.Remove's.
	if err := removeGradually(context.Background(), filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
