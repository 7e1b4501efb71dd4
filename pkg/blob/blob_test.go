package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/blob/blobtest"
)

func TestPutGetHeadDelete(t *testing.T) {
	ctx := context.Background()
	s := blobtest.Store(t)
	body := []byte("Personalized learning means…")
	info, err := s.Put(ctx, "sub/a.txt", bytes.NewReader(body), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(body)
	if info.SHA256 != hex.EncodeToString(want[:]) || info.Size != int64(len(body)) {
		t.Fatalf("put info = %+v", info)
	}
	rc, got, err := s.Get(ctx, "sub/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(data, body) || got.SHA256 != info.SHA256 || got.ContentType != "text/plain" {
		t.Fatalf("get = %q %+v", data, got)
	}
	h, err := s.Head(ctx, "sub/a.txt")
	if err != nil || h.Size != int64(len(body)) {
		t.Fatalf("head = %+v, %v", h, err)
	}
	if err := s.Delete(ctx, "sub/a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, "sub/a.txt"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("head after delete: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "sub/a.txt"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "sub/a.txt"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

func TestListPaginates(t *testing.T) {
	ctx := context.Background()
	s := blobtest.Store(t)
	for i := range 25 {
		if _, err := s.Put(ctx, fmt.Sprintf("p/%02d", i), bytes.NewReader([]byte{byte(i)}), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "q/other", bytes.NewReader([]byte("x")), ""); err != nil {
		t.Fatal(err)
	}
	var all []string
	var sizes []int
	after := ""
	for {
		p, err := s.List(ctx, "p/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Keys...)
		sizes = append(sizes, len(p.Keys))
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("page sizes = %v, want [10 10 5]", sizes)
	}
	for i, k := range all {
		if want := fmt.Sprintf("p/%02d", i); k != want {
			t.Fatalf("key %d = %s, want %s", i, k, want)
		}
	}
}

func TestLargeObjectRoundTrips(t *testing.T) {
	ctx := context.Background()
	s := blobtest.Store(t)
	body := make([]byte, 20<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	info, err := s.Put(ctx, "big.bin", bytes.NewReader(body), "")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(body)
	if n != int64(len(body)) || hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want[:]) || info.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("20 MB object did not round-trip: %d bytes, sha %s, recorded %s", n, hex.EncodeToString(h.Sum(nil)), info.SHA256)
	}
}
