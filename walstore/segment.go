package walstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/walkeeper/walkeeper/pgwal"
)

// tmpName is the file a new segment is prepared under before it is renamed
// to its .partial name (Neon's "waltmp").
const tmpName = "waltmp"

// segFile is one segment file found in the timeline directory.
type segFile struct {
	segNo   uint64
	partial bool
	name    string
}

// segPath is the path of segment segNo, with or without ".partial".
func segPath(dir string, segNo, segSize uint64, partial bool) string {
	name := pgwal.SegmentName(segNo, segSize)
	if partial {
		name += pgwal.PartialSuffix
	}
	return filepath.Join(dir, name)
}

// listSegments returns the segment files of dir sorted by segment number,
// the .partial before the full one for the same number.
func listSegments(dir string, segSize uint64) ([]segFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []segFile
	for _, e := range entries {
		n, partial, err := pgwal.ParseSegmentName(e.Name(), segSize)
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		segs = append(segs, segFile{segNo: n, partial: partial, name: e.Name()})
	}
	sort.Slice(segs, func(i, j int) bool {
		if segs[i].segNo != segs[j].segNo {
			return segs[i].segNo < segs[j].segNo
		}
		return segs[i].partial && !segs[j].partial
	})
	return segs, nil
}

// openForWrite opens an existing file of segment segNo for writing: the
// full name first, then .partial (the writer's order, §1.2). It returns
// os.ErrNotExist (wrapped) when neither exists.
func openForWrite(dir string, segNo, segSize uint64) (f *os.File, partial bool, err error) {
	for _, partial := range []bool{false, true} {
		f, err := os.OpenFile(segPath(dir, segNo, segSize, partial), os.O_RDWR, 0)
		if err == nil {
			return f, partial, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, false, fmt.Errorf("open segment: %w", err)
		}
	}
	return nil, false, fmt.Errorf("segment %s: %w", pgwal.SegmentName(segNo, segSize), os.ErrNotExist)
}

// openForRead opens segment segNo for reading: .partial first, then the
// full name (the readers' order, §1.2), then .partial once more: a
// Truncate may rename a full segment back to .partial between the first
// two tries, and a segment completed meanwhile is found by the second.
func openForRead(dir string, segNo, segSize uint64) (*os.File, error) {
	for _, partial := range []bool{true, false, true} {
		f, err := os.Open(segPath(dir, segNo, segSize, partial))
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open segment: %w", err)
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, pgwal.SegmentName(segNo, segSize))
}

// createTemp makes a fresh waltmp of full segment size, preallocated and
// fsynced, so that later writes only need fdatasync.
func createTemp(dir string, segSize uint64, y *syncer) (*os.File, error) {
	path := filepath.Join(dir, tmpName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := preallocate(f, int64(segSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("preallocate %s: %w", path, err)
	}
	if err := y.fsync(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// installTemp renames the prepared waltmp to segment segNo's .partial name
// and fsyncs the directory, which also makes any earlier rename in it
// (the previous segment's completion) durable. On failure the new name is
// removed, as Neon does.
func installTemp(dir string, segNo, segSize uint64, y *syncer) error {
	dst := segPath(dir, segNo, segSize, true)
	if err := os.Rename(filepath.Join(dir, tmpName), dst); err != nil {
		return fmt.Errorf("install segment: %w", err)
	}
	if err := y.dir(dir); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// createSegment makes segment segNo's .partial from a prepared waltmp and
// returns it open under its new name.
func createSegment(pre *preallocator, dir string, segNo, segSize uint64) (*os.File, error) {
	tmp, err := pre.take()
	if err != nil {
		return nil, err
	}
	tmp.Close()
	if err := installTemp(dir, segNo, segSize, pre.sync); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(segPath(dir, segNo, segSize, true), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open new segment: %w", err)
	}
	return f, nil
}

// removeSegmentsAfter deletes every segment file (full or partial) with a
// number greater than segNo.
func removeSegmentsAfter(dir string, segNo, segSize uint64) (int, error) {
	segs, err := listSegments(dir, segSize)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range segs {
		if s.segNo <= segNo {
			continue
		}
		if err := os.Remove(filepath.Join(dir, s.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("remove segment: %w", err)
		}
		n++
	}
	return n, nil
}
