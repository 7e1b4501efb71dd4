// Package blob stores files (students' original submissions, exports) in an
// S3 bucket through aws-sdk-go-v2. With no endpoint configured for real S3,
// Margin runs an S3-compatible server in-process (Embedded) and talks to it
// over HTTP with the same client, so there is one code path.
package blob

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrNotFound is returned (wrapped) when an object or bucket does not exist.
var ErrNotFound = errors.New("blob: not found")

// ErrCorrupt is returned by Put and PutVerified when the stored object does
// not match what was sent (size, MD5 or SHA-256 disagree after the write).
var ErrCorrupt = errors.New("blob: stored object does not match")

// Config says which S3 to use.
type Config struct {
	Endpoint  string // e.g. http://127.0.0.1:9000; empty means AWS itself
	Region    string // default us-east-1
	Bucket    string // default "margin"
	AccessKey string // empty: the default AWS credential chain
	SecretKey string
	PathStyle bool // path-style addressing; MinIO and the embedded server need it
}

// Store is a bucket.
type Store struct {
	client *s3.Client
	bucket string
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	SHA256      string // hex; from the object's metadata, as written by Put
	Modified    time.Time
}

// New builds a client for cfg. It does not contact S3; call EnsureBucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "margin"
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		// Checksums only where S3 requires them: the embedded server and
		// some S3-compatible servers do not speak the newer trailing checksums.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &Store{client: client, bucket: cfg.Bucket}, nil
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("blob: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping reports whether the bucket is reachable.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	return err
}

// Put stores body (size bytes) under key and verifies it after the write: the
// object's size must match, its ETag must be the MD5 of what was sent, and its
// SHA-256 (kept in the object's metadata) is returned. The body is read twice
// (once to hash it, once to send it), so it must be seekable. Returns
// ErrCorrupt if the stored object disagrees with what was sent. To store a
// content-addressed original, use PutVerified, which reads the object back.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) (Info, error) {
	sum := sha256.New()
	md := md5.New()
	size, err := io.Copy(io.MultiWriter(sum, md), body)
	if err != nil {
		return Info{}, fmt.Errorf("blob: read body: %w", err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("blob: rewind body: %w", err)
	}
	shaHex := hex.EncodeToString(sum.Sum(nil))
	md5Hex := hex.EncodeToString(md.Sum(nil))
	if err := s.putObject(ctx, key, body, size, shaHex, contentType); err != nil {
		return Info{}, err
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Info{}, fmt.Errorf("blob: verify %s: %w", key, err)
	}
	info := infoFromHead(key, head)
	etag := strings.Trim(aws.ToString(head.ETag), `"`)
	if info.Size != size || info.SHA256 != shaHex || (!strings.Contains(etag, "-") && etag != md5Hex) {
		return Info{}, fmt.Errorf("%w: %s (size %d/%d, etag %s/%s)", ErrCorrupt, key, info.Size, size, etag, md5Hex)
	}
	return info, nil
}

// PutVerified makes key hold exactly the size bytes of r, whose SHA-256 is
// sha256Hex, and proves it by reading the object back and hashing it
// (streaming, on any S3). It writes only when it must: an object already
// under key is kept if it reads back as those bytes, and anything else
// there (missing, torn, truncated, foreign, or unreadable) is replaced. It
// trusts no checksum the server reports, because gofakes3 echoes an
// x-amz-checksum-sha256 header it never checked. Returns ErrCorrupt if the
// object still does not read back as r after the write (or sha256Hex is
// not r's hash), or the error of the write or the read.
func (s *Store) PutVerified(ctx context.Context, key string, r io.ReaderAt, size int64, sha256Hex, contentType string) error {
	if s.verify(ctx, key, size, sha256Hex) == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.putObject(ctx, key, io.NewSectionReader(r, 0, size), size, sha256Hex, contentType); err != nil {
		return err
	}
	return s.verify(ctx, key, size, sha256Hex)
}

// putObject sends size bytes of body, recording sha256Hex in the metadata.
func (s *Store) putObject(ctx context.Context, key string, body io.ReadSeeker, size int64, sha256Hex, contentType string) error {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   &contentType,
		Metadata:      map[string]string{"sha256": sha256Hex},
	})
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// verify reads key back: nil if it is size bytes hashing to sha256Hex,
// ErrNotFound if there is no such object, ErrCorrupt if it differs.
func (s *Store) verify(ctx context.Context, key string, size int64, sha256Hex string) error {
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if info.Size != size {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrCorrupt, key, info.Size, size)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, size+1))
	if err != nil {
		return fmt.Errorf("blob: read back %s: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha256Hex {
		return fmt.Errorf("%w: %s reads back as %d bytes with SHA-256 %s, want %d bytes with %s", ErrCorrupt, key, n, got, size, sha256Hex)
	}
	return nil
}

// Get opens the object for reading. The caller closes the reader. Returns
// ErrNotFound if there is no such object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, Info{}, s.wrap("get", key, err)
	}
	info := Info{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		SHA256:      out.Metadata["sha256"],
		Modified:    aws.ToTime(out.LastModified),
	}
	return out.Body, info, nil
}

// Head describes the object. Returns ErrNotFound if there is no such object.
func (s *Store) Head(ctx context.Context, key string) (Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Info{}, s.wrap("head", key, err)
	}
	return infoFromHead(key, out), nil
}

// Delete removes the object; deleting a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if err := s.wrap("delete", key, err); !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Page is one page of a listing.
type Page struct {
	Keys []string
	Next string // pass as after to get the next page; empty on the last page
}

// List returns up to limit keys under prefix, in key order, starting after the
// key after (empty for the first page). Pages are cut to limit on our side
// too, because some S3-compatible servers ignore MaxKeys.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) (Page, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	in := &s3.ListObjectsV2Input{
		Bucket:  &s.bucket,
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(int32(limit)),
	}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return Page{}, s.wrap("list", prefix, err)
	}
	var p Page
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		if after != "" && k <= after { // servers that ignore StartAfter
			continue
		}
		if len(p.Keys) == limit {
			p.Next = p.Keys[len(p.Keys)-1]
			return p, nil
		}
		p.Keys = append(p.Keys, k)
	}
	if aws.ToBool(out.IsTruncated) && len(p.Keys) > 0 {
		p.Next = p.Keys[len(p.Keys)-1]
	}
	return p, nil
}

func infoFromHead(key string, h *s3.HeadObjectOutput) Info {
	return Info{
		Key:         key,
		Size:        aws.ToInt64(h.ContentLength),
		ContentType: aws.ToString(h.ContentType),
		SHA256:      h.Metadata["sha256"],
		Modified:    aws.ToTime(h.LastModified),
	}
}

func (s *Store) wrap(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	var ae smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb) ||
		(errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey")) {
		return fmt.Errorf("%w: %s %s", ErrNotFound, op, key)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}
