package blob

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Pause points for crash tests (EmbeddedOptions.TestPause).
const (
	// PauseMidWrite stops a put when half of its body is in the staging file.
	PauseMidWrite = "blob.put.mid"
	// PausePublished stops a put after its object is renamed into place and
	// before its metadata is.
	PausePublished = "blob.put.published"
)

// diskBackend is the embedded S3's storage: a gofakes3.Backend on the local
// file system, in the layout of gofakes3's s3afero multi-bucket backend, so
// that data directories written by earlier versions keep working:
//
//	buckets/<bucket>/<key>                        an object's bytes
//	metadata/<bucket>/<key, / as _>-<fnv128a>     its metadata (JSON)
//	staging/put-<n>.obj, staging/put-<n>.meta     a put in progress
//
// Unlike s3afero, a put is atomic. The body and the metadata are written and
// synced under staging/; then, under the lock, the object and then its
// metadata are renamed into place. A crash before the object's rename leaves
// the old object (if any) untouched; a crash between the two renames leaves
// the metadata in staging/, and recover completes the put at the next start.
// An object whose metadata is missing or records another size (left by
// s3afero, or by a crash during a delete) reads as not found, never as an
// error, and the next put replaces it.
type diskBackend struct {
	root    string
	mu      sync.RWMutex // readers: stat, metadata and open; writer: publish and delete
	pause   string
	log     *slog.Logger
	closing chan struct{}
}

var _ gofakes3.Backend = (*diskBackend)(nil)

// objectMeta is s3afero's metadata file, field for field.
type objectMeta struct {
	File    string // "<bucket>/<key>"
	ModTime time.Time
	Size    int64
	Hash    []byte // MD5 of the bytes: the ETag
	Meta    map[string]string
}

// openDisk prepares root and completes or discards the puts a crash
// interrupted (see recover).
func openDisk(root string, log *slog.Logger, pause string) (*diskBackend, error) {
	b := &diskBackend{root: root, pause: pause, log: log, closing: make(chan struct{})}
	for _, d := range []string{"buckets", "metadata", "staging"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := b.recover(); err != nil {
		return nil, fmt.Errorf("blob: recover %s: %w", root, err)
	}
	return b, nil
}

// close releases a put held at a test pause.
func (b *diskBackend) close() {
	select {
	case <-b.closing:
	default:
		close(b.closing)
	}
}

// recover finishes what the last run left in staging/: a put whose object
// was renamed into place but whose metadata was not gets its metadata (the
// object is complete: it was synced before the rename); every other staged
// file is removed. It reads only staging/, so it takes time in proportion to
// the puts in flight at the crash, and running it again changes nothing.
func (b *diskBackend) recover() error {
	staging := filepath.Join(b.root, "staging")
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	var completed, removed []string
	for _, e := range entries {
		name := filepath.Join(staging, e.Name())
		if stem, ok := strings.CutSuffix(name, ".meta"); ok {
			if _, err := os.Lstat(stem + ".obj"); errors.Is(err, fs.ErrNotExist) {
				if key, err := b.completePut(name); err != nil {
					return err
				} else if key != "" {
					completed = append(completed, key)
					continue
				}
			}
		}
		if err := os.RemoveAll(name); err != nil {
			return err
		}
		removed = append(removed, e.Name())
	}
	if len(completed)+len(removed) > 0 {
		b.log.Warn("embedded S3 recovered from an interrupted run",
			"puts_completed", completed, "staged_files_removed", removed)
	}
	return nil
}

// completePut publishes the staged metadata file name if its object is in
// place, and returns the object's "<bucket>/<key>"; "" means the metadata
// belongs to no object in place and should be removed.
func (b *diskBackend) completePut(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	var m objectMeta
	if json.Unmarshal(data, &m) != nil {
		return "", nil
	}
	bucket, key, _ := strings.Cut(m.File, "/")
	obj, ok := b.objectPath(bucket, key)
	if !ok {
		return "", nil
	}
	st, err := os.Stat(obj)
	if err != nil || st.Size() != m.Size || !st.ModTime().Equal(m.ModTime) {
		return "", nil
	}
	dst := b.metaPath(bucket, key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	return m.File, os.Rename(name, dst)
}

// objectPath is where key's bytes live, or false if key cannot be a path
// below the bucket (an empty, "." or ".." segment, or a leading "/").
func (b *diskBackend) objectPath(bucket, key string) (string, bool) {
	if gofakes3.ValidateBucketName(bucket) != nil || key == "" || strings.ContainsRune(key, 0) {
		return "", false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return filepath.Join(b.root, "buckets", bucket, filepath.FromSlash(key)), true
}

// metaPath is where s3afero keeps key's metadata.
func (b *diskBackend) metaPath(bucket, key string) string {
	h := fnv.New128a()
	h.Write([]byte(key))
	flat := strings.NewReplacer("/", "_", `\`, "_").Replace(key)
	return filepath.Join(b.root, "metadata", bucket, flat+"-"+hex.EncodeToString(h.Sum(nil)))
}

func (b *diskBackend) bucketDir(bucket string) string {
	return filepath.Join(b.root, "buckets", bucket)
}

func (b *diskBackend) checkBucket(bucket string) error {
	if gofakes3.ValidateBucketName(bucket) != nil {
		return gofakes3.BucketNotFound(bucket)
	}
	st, err := os.Stat(b.bucketDir(bucket))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return gofakes3.BucketNotFound(bucket)
	}
	return err
}

// readMeta returns key's metadata if it describes an object of size bytes;
// otherwise the object is torn and reads as not found.
func (b *diskBackend) readMeta(bucket, key string, size int64) (objectMeta, bool) {
	var m objectMeta
	data, err := os.ReadFile(b.metaPath(bucket, key))
	if err != nil || json.Unmarshal(data, &m) != nil || m.Size != size || len(m.Hash) == 0 {
		return objectMeta{}, false
	}
	return m, true
}

func (b *diskBackend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	entries, err := os.ReadDir(filepath.Join(b.root, "buckets"))
	if err != nil {
		return nil, err
	}
	out := []gofakes3.BucketInfo{}
	for _, e := range entries {
		if !e.IsDir() || gofakes3.ValidateBucketName(e.Name()) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, gofakes3.BucketInfo{Name: e.Name(), CreationDate: gofakes3.NewContentTime(info.ModTime())})
	}
	return out, nil
}

// ListBucket lists keys in order, with prefix and delimiter, honouring the
// page's marker and MaxKeys. Torn objects are left out.
func (b *diskBackend) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	if err := b.checkBucket(bucket); err != nil {
		return nil, err
	}
	base := b.bucketDir(bucket)
	start := base
	// Walk only the directory named by the prefix's whole segments.
	if i := strings.LastIndexByte(prefix.Prefix, '/'); prefix.HasPrefix && i > 0 {
		if dir, ok := b.objectPath(bucket, prefix.Prefix[:i]); ok {
			start = dir
		}
	}
	type item struct {
		name    string
		content *gofakes3.Content // nil for a common prefix
	}
	var items []item
	seen := map[string]bool{}
	b.mu.RLock()
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		var m gofakes3.PrefixMatch
		if !prefix.Match(key, &m) {
			return nil
		}
		if m.CommonPrefix {
			if !seen[m.MatchedPart] {
				seen[m.MatchedPart] = true
				items = append(items, item{name: m.MatchedPart})
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while we walked
		}
		meta, ok := b.readMeta(bucket, key, info.Size())
		if !ok {
			return nil
		}
		items = append(items, item{name: key, content: &gofakes3.Content{
			Key: key, LastModified: gofakes3.NewContentTime(info.ModTime()), ETag: gofakes3.FormatETag(meta.Hash), Size: info.Size(),
		}})
		return nil
	})
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	list := gofakes3.NewObjectList()
	for _, it := range items {
		if page.HasMarker && it.name <= page.Marker {
			continue
		}
		if page.MaxKeys > 0 && int64(len(list.Contents)+len(list.CommonPrefixes)) == page.MaxKeys {
			list.IsTruncated = true
			break
		}
		if it.content != nil {
			list.Add(it.content)
		} else {
			list.AddPrefix(it.name)
		}
		list.NextMarker = it.name
	}
	if !list.IsTruncated {
		list.NextMarker = ""
	}
	return list, nil
}

func (b *diskBackend) CreateBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return err
	}
	err := os.Mkdir(b.bucketDir(name), 0o700)
	if errors.Is(err, fs.ErrExist) {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	return err
}

func (b *diskBackend) BucketExists(name string) (bool, error) {
	err := b.checkBucket(name)
	if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) {
		return false, nil
	}
	return err == nil, err
}

func (b *diskBackend) DeleteBucket(name string) error {
	if err := b.checkBucket(name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	entries, err := os.ReadDir(b.bucketDir(name))
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	if err := os.Remove(b.bucketDir(name)); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.root, "metadata", name))
}

func (b *diskBackend) ForceDeleteBucket(name string) error {
	if err := b.checkBucket(name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := os.RemoveAll(b.bucketDir(name)); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.root, "metadata", name))
}

func (b *diskBackend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	return b.object(bucket, key, nil, false)
}

func (b *diskBackend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	return b.object(bucket, key, rng, true)
}

// object describes key, and opens it (within rng) if body is set.
func (b *diskBackend) object(bucket, key string, rng *gofakes3.ObjectRangeRequest, body bool) (*gofakes3.Object, error) {
	if err := b.checkBucket(bucket); err != nil {
		return nil, err
	}
	p, ok := b.objectPath(bucket, key)
	if !ok {
		return nil, gofakes3.KeyNotFound(key)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	st, err := os.Stat(p)
	if notFound(err) || (err == nil && !st.Mode().IsRegular()) {
		return nil, gofakes3.KeyNotFound(key)
	} else if err != nil {
		return nil, err
	}
	meta, ok := b.readMeta(bucket, key, st.Size())
	if !ok {
		return nil, gofakes3.KeyNotFound(key)
	}
	obj := &gofakes3.Object{Name: key, Metadata: meta.Meta, Size: st.Size(), Hash: meta.Hash, Contents: http.NoBody}
	if !body {
		return obj, nil
	}
	r, err := rng.Range(st.Size())
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	obj.Contents, obj.Range = f, r
	if r != nil {
		if _, err := f.Seek(r.Start, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		obj.Contents = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, r.Length), f}
	}
	return obj, nil
}

// PutObject stores size bytes of input under key, atomically (see
// diskBackend). Unlike s3afero it does not carry the old object's metadata
// over: as on S3, a put replaces the object and its metadata.
func (b *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	var res gofakes3.PutObjectResult
	if err := b.checkBucket(bucket); err != nil {
		return res, err
	}
	objPath, ok := b.objectPath(bucket, key)
	if !ok {
		return res, gofakes3.ErrorMessage(gofakes3.ErrInvalidArgument, "The embedded S3 takes keys made of path segments that are not empty, \".\" or \"..\".")
	}
	stagedObj, stagedMeta, err := b.stage(bucket, key, meta, input, size)
	defer os.Remove(stagedObj) // no-ops once they are renamed into place
	defer os.Remove(stagedMeta)
	if err != nil {
		return res, err
	}

	metaPath := b.metaPath(bucket, key)
	if err := b.publish(bucket, key, cond, stagedObj, objPath, stagedMeta, metaPath); err != nil {
		return res, err
	}
	// The renames survive a power cut only once their directories are synced.
	for _, d := range []string{filepath.Dir(objPath), filepath.Dir(metaPath)} {
		if err := syncDir(d); err != nil {
			return res, err
		}
	}
	return res, nil
}

// publish renames a staged put into place, the object first, if cond holds.
func (b *diskBackend) publish(bucket, key string, cond *gofakes3.PutConditions, stagedObj, objPath, stagedMeta, metaPath string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cond != nil {
		info := &gofakes3.ConditionalObjectInfo{}
		if st, err := os.Stat(objPath); err == nil && st.Mode().IsRegular() {
			if m, ok := b.readMeta(bucket, key, st.Size()); ok {
				info.Exists, info.Hash = true, m.Hash
			}
		}
		if err := gofakes3.CheckPutConditions(cond, info); err != nil {
			return err
		}
	}
	for _, d := range []string{filepath.Dir(objPath), filepath.Dir(metaPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.Rename(stagedObj, objPath); err != nil {
		return err
	}
	b.testPause(PausePublished)
	return os.Rename(stagedMeta, metaPath)
}

// stage writes the body and its metadata to synced files under staging/
// and returns their names (set even on error, for the caller to remove).
func (b *diskBackend) stage(bucket, key string, meta map[string]string, input io.Reader, size int64) (obj, metaFile string, err error) {
	f, err := os.CreateTemp(filepath.Join(b.root, "staging"), "put-*.obj")
	if err != nil {
		return "", "", err
	}
	obj = f.Name()
	metaFile = strings.TrimSuffix(obj, ".obj") + ".meta"
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	h := md5.New()
	w := io.MultiWriter(f, h)
	n, err := io.CopyN(w, input, size/2)
	if err == nil {
		b.testPause(PauseMidWrite)
		var m int64
		m, err = io.CopyN(w, input, size-size/2)
		n += m
	}
	if errors.Is(err, io.EOF) || (err == nil && n != size) {
		return obj, metaFile, gofakes3.ErrIncompleteBody
	} else if err != nil {
		return obj, metaFile, err
	}
	// Read to the end: gofakes3 checks Content-MD5 when the body says EOF.
	var extra [1]byte
	if _, err := io.ReadFull(input, extra[:]); err == nil {
		return obj, metaFile, gofakes3.ErrorMessage(gofakes3.ErrInvalidArgument, "The body is longer than its Content-Length.")
	} else if !errors.Is(err, io.EOF) {
		return obj, metaFile, err
	}
	if err := f.Sync(); err != nil {
		return obj, metaFile, err
	}
	st, err := f.Stat()
	if err != nil {
		return obj, metaFile, err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return obj, metaFile, err
	}
	data, err := json.Marshal(objectMeta{File: path.Join(bucket, key), ModTime: st.ModTime(), Size: size, Hash: h.Sum(nil), Meta: meta})
	if err != nil {
		return obj, metaFile, err
	}
	return obj, metaFile, writeSynced(metaFile, data)
}

func (b *diskBackend) testPause(point string) {
	if b.pause == point {
		b.log.Warn("embedded S3 paused for a crash test", "at", point)
		<-b.closing
	}
}

func (b *diskBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	if err := b.checkBucket(bucket); err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return gofakes3.ObjectDeleteResult{}, b.deleteLocked(bucket, key)
}

// deleteLocked removes the object, then its metadata: a crash in between
// leaves metadata without an object, which reads as not found.
func (b *diskBackend) deleteLocked(bucket, key string) error {
	p, ok := b.objectPath(bucket, key)
	if !ok {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(b.metaPath(bucket, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (b *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	if err := b.checkBucket(bucket); err != nil {
		return res, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if err := b.deleteLocked(bucket, k); err != nil {
			b.log.Error("embedded S3 delete", "key", k, "err", err)
			res.Error = append(res.Error, gofakes3.ErrorResult{Key: k, Code: gofakes3.ErrInternal, Message: gofakes3.ErrInternal.Message()})
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}

func (b *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

// writeSynced writes data to a new file name and syncs it.
func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// notFound says whether a stat error means there is no such object: the
// path, or a directory on it, is missing, is a file, or is too long.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
