package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// useTempDir gives this process its own directory for temporary files,
// root/run-<random>, and points TMPDIR at it, so that everything spooled
// while serving (uploads, and the multipart files Go's HTTP stack writes
// for page forms) lands there. It first removes the run directories that
// processes no longer alive left under root (a kill leaves its spools
// behind): each live process holds a lock on its own, so several processes
// may share root. Only directories named run-* with a lock file (or a
// .new-* one a minute old) are touched, so the sweep is bounded by what
// earlier runs left and running it again removes nothing more. It logs what
// it removed, and returns the function that removes this process's
// directory and points TMPDIR back where it was.
func useTempDir(root string, log *slog.Logger) (func(), error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("temporary directory %s: %w", root, err)
	}
	if err := sweepTempDir(root, log); err != nil {
		return nil, fmt.Errorf("temporary directory %s: %w", root, err)
	}
	// Made under another name and renamed once locked, so that a sweep
	// never sees a run directory whose owner has not locked it yet.
	tmp, err := os.MkdirTemp(root, ".new-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory %s: %w", root, err)
	}
	lock, err := os.OpenFile(filepath.Join(tmp, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	dir := filepath.Join(root, "run-"+strings.TrimPrefix(filepath.Base(tmp), ".new-"))
	prev, hadPrev := os.LookupEnv("TMPDIR")
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = os.Setenv("TMPDIR", dir)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("temporary directory %s: %w", root, err)
	}
	return func() {
		if hadPrev {
			os.Setenv("TMPDIR", prev)
		} else {
			os.Unsetenv("TMPDIR")
		}
		os.RemoveAll(dir)
		lock.Close()
	}, nil
}

// sweepTempDir removes the run directories under root whose process is gone.
func sweepTempDir(root string, log *slog.Logger) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		switch {
		case !e.IsDir():
			continue
		case strings.HasPrefix(e.Name(), "run-"):
			lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR, 0)
			if err != nil {
				continue // not ours
			}
			err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if errors.Is(err, syscall.EWOULDBLOCK) {
				lock.Close()
				continue // its process is running
			}
			if err == nil {
				err = removeLogged(dir, log)
			}
			lock.Close()
			if err != nil {
				return err
			}
		case strings.HasPrefix(e.Name(), ".new-"):
			// A process killed while making its directory, before it held
			// anything but the lock file.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
				if err := os.RemoveAll(dir); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// removeLogged removes dir and logs how many files and bytes it held.
func removeLogged(dir string, log *slog.Logger) error {
	var files int
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "LOCK" {
			files++
			if info, err := d.Info(); err == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	log.Warn("removed the temporary files an interrupted run left", "dir", dir, "files", files, "bytes", size)
	return nil
}
