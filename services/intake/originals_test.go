package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/marginschool/margin/pkg/blob"
)

// TestOriginalUnderItsKeyIsVerified: an object already under an original's
// content address that is not the original (a truncated copy, or foreign
// bytes, on whatever S3) is replaced before the version is recorded, never
// trusted; the recorded version downloads as the uploaded bytes.
func TestOriginalUnderItsKeyIsVerified(t *testing.T) {
	essay := fixtureBytes(t, "submissions/lindqvistsam_1003_5003_personalized-learning.txt")
	for _, tc := range []struct {
		name  string
		there []byte
	}{
		{"truncated", essay[:len(essay)/2]},
		{"foreign", []byte("someone else's file")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			sum := sha256.Sum256(essay)
			store := w.s.blobs.(*blob.Store)
			if _, err := store.Put(w.ctx, "submissions/"+hex.EncodeToString(sum[:]), bytes.NewReader(tc.there), ""); err != nil {
				t.Fatal(err)
			}
			o := w.upload(t, namedFile{"essay.txt", "1003", essay})[0]
			if o.Status != StatusCreated {
				t.Fatalf("upload over a %s object: %+v", tc.name, o)
			}
			rc, _, err := w.s.Original(w.ctx, w.teacher, o.SubmissionID, 1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, essay) {
				t.Fatalf("the recorded original is %d bytes, want the uploaded %d", len(got), len(essay))
			}
		})
	}
}
