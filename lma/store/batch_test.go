package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// Submit: a batch's writes become durable together, in order with Puts,
// each done called once, in submission order; the batch is reusable at
// once; bad input and a closed store are refused without calling done.
func TestSubmit(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, testOpts)
	ctx := context.Background()
	if err := w.Put(ctx, []byte("old"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	var b Batch
	for i := range 50 {
		b.Reset()
		b.Put(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
		b.Put([]byte("last"), fmt.Appendf(nil, "%d", i))
		if i == 10 {
			b.Delete([]byte("old"))
		}
		wg.Add(1)
		if err := w.Submit(&b, func(err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("callbacks ran in order %v", order)
		}
	}
	if st := w.Stats(); st.Puts != 101 || st.Deletes != 1 {
		t.Errorf("stats %+v, want 101 puts and 1 delete", st)
	}
	b.Reset()
	b.Put(nil, []byte("v"))
	if err := w.Submit(&b, func(error) { t.Error("done called for an invalid batch") }); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key: %v", err)
	}
	w.Close()
	b.Reset()
	b.Put([]byte("k"), []byte("v"))
	if err := w.Submit(&b, func(error) { t.Error("done called after Close") }); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	w = open(t, dir, testOpts)
	defer w.Close()
	want := map[string]string{"last": "49"}
	for i := range 50 {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprintf("v%d", i)
	}
	wantContents(t, w, want)
}

func TestBatchEach(t *testing.T) {
	var b Batch
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("b"))
	b.Put([]byte("c"), nil)
	var got []string
	b.Each(func(del bool, k, v []byte) { got = append(got, fmt.Sprintf("%v %s %q", del, k, v)) })
	want := []string{`false a "1"`, `true b ""`, `false c ""`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Each: %q, want %q", got, want)
	}
}
