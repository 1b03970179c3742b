package watch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestGetSet(t *testing.T) {
	w := New(3)
	if got := w.Get(); got != 3 {
		t.Fatalf("Get = %d, want 3", got)
	}
	v, ch := w.Load()
	if v != 3 {
		t.Fatalf("Load = %d, want 3", v)
	}
	select {
	case <-ch:
		t.Fatal("changed closed before Set")
	default:
	}
	w.Set(4)
	select {
	case <-ch:
	default:
		t.Fatal("changed not closed by Set")
	}
	if got := w.Get(); got != 4 {
		t.Fatalf("Get = %d, want 4", got)
	}
}

func TestWaitReturnsAtOnceWhenSatisfied(t *testing.T) {
	w := New(10)
	v, err := w.Wait(context.Background(), func(v int) bool { return v >= 10 })
	if err != nil || v != 10 {
		t.Fatalf("Wait = %d, %v", v, err)
	}
}

func TestWaitCancelled(t *testing.T) {
	w := New(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := w.Wait(ctx, func(v int) bool { return v > 0 })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait err = %v, want deadline exceeded", err)
	}
}

// TestManyWaitersOneWriter runs under -race: the writer publishes a
// monotonic counter without ever blocking while many readers wait for
// thresholds; every reader must observe its threshold and never a value
// that goes backwards.
func TestManyWaitersOneWriter(t *testing.T) {
	const readers, last = 32, 2000
	w := New(0)
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := -1
			for want := r; want <= last; want += 1 + r%7 {
				v, err := w.Wait(context.Background(), func(v int) bool { return v >= want })
				if err != nil {
					errs <- err
					return
				}
				if v < prev {
					errs <- errors.New("value went backwards")
					return
				}
				prev = v
			}
		}()
	}
	start := time.Now()
	for i := 1; i <= last; i++ {
		w.Set(i)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writer took %v for %d Sets; it must not wait for readers", d, last)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentSetters(t *testing.T) {
	w := New(0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 500 {
				w.Set(i*1000 + j)
				_ = w.Get()
			}
		}()
	}
	wg.Wait()
}

func BenchmarkSet(b *testing.B) {
	w := New(0)
	b.ReportAllocs()
	for i := range b.N {
		w.Set(i)
	}
}
