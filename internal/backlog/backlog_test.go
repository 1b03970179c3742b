package backlog

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestWaitDrainedEmpty(t *testing.T) {
	var c Counter
	if !c.WaitDrained(context.Background(), time.Hour) {
		t.Fatal("an empty counter is drained")
	}
}

func TestWaitDrainedWakesOnZero(t *testing.T) {
	var c Counter
	c.Add(100)
	c.Add(50)
	done := make(chan bool)
	go func() { done <- c.WaitDrained(context.Background(), time.Hour) }()
	c.Add(-100)
	select {
	case <-done:
		t.Fatal("woke while 50 were still queued")
	case <-time.After(20 * time.Millisecond):
	}
	c.Add(-50)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("WaitDrained reported false after the count reached zero")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken when the count reached zero")
	}
}

func TestWaitDrainedTimeoutAndCancel(t *testing.T) {
	var c Counter
	c.Add(1)
	start := time.Now()
	if c.WaitDrained(context.Background(), 10*time.Millisecond) {
		t.Fatal("drained reported while one is queued")
	}
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Fatalf("returned after %v, before its deadline", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.WaitDrained(ctx, time.Hour) {
		t.Fatal("drained reported for a cancelled wait")
	}
}

// TestNoLostWakeup: many waiters against adders that keep bringing the
// count to zero and up again; every waiter must return without its
// deadline (run with -race).
func TestNoLostWakeup(t *testing.T) {
	var c Counter
	stop := make(chan struct{})
	var adders sync.WaitGroup
	for range 4 {
		adders.Add(1)
		go func() {
			defer adders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Add(3)
				c.Add(-3)
			}
		}()
	}
	var waiters sync.WaitGroup
	failed := make(chan struct{}, 100)
	for range 100 {
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			if !c.WaitDrained(context.Background(), 10*time.Second) {
				failed <- struct{}{}
			}
		}()
	}
	waiters.Wait()
	close(stop)
	adders.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d waiters missed the count reaching zero", len(failed))
	}
	if n := c.Load(); n != 0 {
		t.Fatalf("count %d after balanced adds", n)
	}
}
