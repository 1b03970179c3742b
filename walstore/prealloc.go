package walstore

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// preallocator prepares the next segment file (waltmp, full size,
// fallocated and fsynced) in a background goroutine, so that the writer
// crossing a segment boundary only renames it (etcd's file_pipeline).
// At most one waltmp exists; the writer must rename a taken file before it
// requests the next one.
type preallocator struct {
	dir     string
	segSize uint64
	sync    *syncer
	metrics *Metrics

	req   chan struct{} // capacity 1: "prepare one"
	ready chan prepared // capacity 1: the prepared file
	done  chan struct{}
	wg    sync.WaitGroup

	outstanding bool // writer side: a request was sent and not yet taken
}

type prepared struct {
	f   *os.File
	err error
}

func newPreallocator(dir string, segSize uint64, y *syncer, m *Metrics) *preallocator {
	p := &preallocator{
		dir: dir, segSize: segSize, sync: y, metrics: m,
		req:   make(chan struct{}, 1),
		ready: make(chan prepared, 1),
		done:  make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *preallocator) run() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.req:
		}
		start := time.Now()
		f, err := createTemp(p.dir, p.segSize, p.sync)
		p.metrics.observeSince(p.metrics.op(OpInitializeSegment), start)
		select {
		case p.ready <- prepared{f, err}:
		case <-p.done:
			if f != nil {
				f.Close()
			}
			return
		}
	}
}

// request asks for the next segment file to be prepared, unless a request
// is already outstanding. It never blocks.
func (p *preallocator) request() {
	if p.outstanding {
		return
	}
	p.outstanding = true
	p.req <- struct{}{}
}

// take returns a prepared waltmp, waiting for the background goroutine if
// one was requested, or creating it in the caller's goroutine if not.
func (p *preallocator) take() (*os.File, error) {
	if !p.outstanding {
		start := time.Now()
		f, err := createTemp(p.dir, p.segSize, p.sync)
		p.metrics.observeSince(p.metrics.op(OpInitializeSegment), start)
		return f, err
	}
	p.outstanding = false
	r := <-p.ready
	return r.f, r.err
}

// close stops the goroutine and removes an unused waltmp.
func (p *preallocator) close() {
	close(p.done)
	p.wg.Wait()
	select {
	case r := <-p.ready:
		if r.f != nil {
			r.f.Close()
		}
	default:
	}
	os.Remove(filepath.Join(p.dir, tmpName))
}
