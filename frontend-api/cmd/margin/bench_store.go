package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
)

// storeOp is one command the store client sent.
type storeOp struct {
	Command    string
	Collection string
	// Kind is how the embedded store answers it: "id" (a filter that is
	// exactly {_id: …}, answered through the _id index), "scan" (any other
	// filter: every document of the collection is read), "insert", "more"
	// (a cursor's next batch) or "other".
	Kind     string
	ID       string // the _id of an "id" command
	Write    bool   // update, delete, findAndModify
	Received int    // bytes of the reply
	Took     time.Duration
	Count    int           // in a phase's totals: how many commands this entry adds up
	Max      time.Duration // in a phase's totals: the slowest of them
}

// storeRecorder records the store commands sent while it is on (the bench
// turns it on around one measured request at a time), and adds up, by
// phase, the commands sent under a context labelled with withPhase (the
// seeding's steps).
type storeRecorder struct {
	mu      sync.Mutex
	on      bool
	ops     []storeOp
	pending map[int64]pendingOp // by request ID
	phases  map[string][]storeOp
}

type pendingOp struct {
	index int // in ops, or -1
	phase string
	op    storeOp
}

func newStoreRecorder() *storeRecorder {
	return &storeRecorder{pending: map[int64]pendingOp{}, phases: map[string][]storeOp{}}
}

type phaseKey struct{}

// withPhase labels the store commands sent under ctx as part of phase.
func withPhase(ctx context.Context, phase string) context.Context {
	return context.WithValue(ctx, phaseKey{}, phase)
}

func (r *storeRecorder) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			phase, _ := ctx.Value(phaseKey{}).(string)
			r.mu.Lock()
			defer r.mu.Unlock()
			if !r.on && phase == "" {
				return
			}
			p := pendingOp{index: -1, phase: phase, op: classify(e.CommandName, e.Command)}
			if r.on {
				p.index = len(r.ops)
				r.ops = append(r.ops, p.op)
			}
			r.pending[e.RequestID] = p
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			r.finish(e.RequestID, len(e.Reply), e.Duration)
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) { r.finish(e.RequestID, 0, e.Duration) },
	}
}

func (r *storeRecorder) finish(id int64, received int, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pending[id]
	if !ok {
		return
	}
	delete(r.pending, id)
	p.op.Received, p.op.Took = received, took
	if p.index >= 0 && p.index < len(r.ops) {
		r.ops[p.index] = p.op
	}
	if p.phase != "" {
		r.phases[p.phase] = appendOp(r.phases[p.phase], p.op)
	}
}

// appendOp adds op to a phase's totals: one entry per command, collection
// and kind, with Took and Received summed and Sent counting the commands.
func appendOp(ops []storeOp, op storeOp) []storeOp {
	for i := range ops {
		if o := &ops[i]; o.Command == op.Command && o.Collection == op.Collection && o.Kind == op.Kind {
			o.Count++
			o.Received += op.Received
			o.Took += op.Took
			o.Max = max(o.Max, op.Took)
			return ops
		}
	}
	op.Count, op.ID, op.Max = 1, "", op.Took
	return append(ops, op)
}

// record runs f with recording on and returns the commands it sent.
func (r *storeRecorder) record(f func() error) ([]storeOp, error) {
	r.mu.Lock()
	r.on, r.ops = true, nil
	r.mu.Unlock()
	err := f()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.ops, err
}

// classify says what a command is and how the embedded store answers it.
func classify(name string, cmd bson.Raw) storeOp {
	op := storeOp{Command: name, Kind: "other"}
	op.Collection, _ = cmd.Lookup(name).StringValueOK()
	filter := func(f bson.RawValue) {
		doc, ok := f.DocumentOK()
		if !ok {
			op.Kind = "scan"
			return
		}
		elems, _ := doc.Elements()
		if len(elems) == 1 && elems[0].Key() == "_id" && (elems[0].Value().Type == bsontype.String || elems[0].Value().Type == bsontype.ObjectID) {
			op.Kind = "id"
			if s, ok := elems[0].Value().StringValueOK(); ok {
				op.ID = s
			} else {
				op.ID = elems[0].Value().ObjectID().Hex()
			}
			return
		}
		op.Kind = "scan"
	}
	first := func(array string, key string) {
		vals, _ := cmd.Lookup(array).Array().Values()
		if len(vals) > 0 {
			filter(vals[0].Document().Lookup(key))
		}
	}
	switch name {
	case "find":
		filter(cmd.Lookup("filter"))
	case "findAndModify":
		op.Write = true
		filter(cmd.Lookup("query"))
	case "update":
		op.Write = true
		first("updates", "q")
	case "delete":
		op.Write = true
		first("deletes", "q")
	case "insert":
		op.Kind = "insert"
	case "aggregate", "count", "distinct":
		op.Kind = "scan"
	case "getMore":
		op.Kind = "more"
		op.Collection, _ = cmd.Lookup("collection").StringValueOK()
	}
	return op
}

// storeProfile is what one kind of request (or job) does to the store, on
// average per request (or per unit of the job's work: a file, a grader, a
// read).
type storeProfile struct {
	Unit       string             `json:"unit"`
	RoundTrips float64            `json:"round_trips"`
	ByKind     map[string]float64 `json:"by_kind"`
	Received   float64            `json:"received_bytes"`
	StoreMS    float64            `json:"store_ms"` // time inside store commands
	Lines      []profileLine      `json:"commands"`
}

// profileLine is one kind of command on one collection.
type profileLine struct {
	Command    string  `json:"command"`
	Collection string  `json:"collection"`
	Kind       string  `json:"kind"`
	PerRequest float64 `json:"per_request"`
	Received   float64 `json:"received_bytes"` // per command, mean
	MaxDoc     int     `json:"max_doc_bytes,omitempty"`
	// CollectionDocs and CollectionBytes describe a scanned collection;
	// DocBytes the largest document an update by _id rewrote.
	CollectionDocs  int64   `json:"collection_docs,omitempty"`
	CollectionBytes int64   `json:"collection_bytes,omitempty"`
	DocBytes        int     `json:"doc_bytes,omitempty"`
	MS              float64 `json:"ms"`               // per request, inside these commands
	MaxMS           float64 `json:"max_ms,omitempty"` // in a seeding phase: the slowest of these commands
}

// profile summarises the commands of samples, per unit of work (units of
// them in all). For scans it looks up the size of the scanned collection;
// for writes by _id the size of the largest document written (the embedded
// store reads and rewrites it whole).
func profile(ctx context.Context, db *mongo.Database, samples [][]storeOp, unit string, units int) storeProfile {
	p := storeProfile{Unit: unit, ByKind: map[string]float64{}}
	n := float64(max(1, units))
	type key struct{ cmd, coll, kind string }
	lines := map[key]*profileLine{}
	written := map[key]map[string]bool{}
	for _, ops := range samples {
		for _, op := range ops {
			p.RoundTrips++
			p.ByKind[op.Kind]++
			p.Received += float64(op.Received)
			p.StoreMS += float64(op.Took) / 1e6
			k := key{op.Command, op.Collection, op.Kind}
			l := lines[k]
			if l == nil {
				l = &profileLine{Command: op.Command, Collection: op.Collection, Kind: op.Kind}
				lines[k] = l
			}
			l.PerRequest++
			l.Received += float64(op.Received)
			l.MS += float64(op.Took) / 1e6
			if !op.Write && op.Kind == "id" {
				l.MaxDoc = max(l.MaxDoc, op.Received)
			}
			if op.Write && op.ID != "" {
				if written[k] == nil {
					written[k] = map[string]bool{}
				}
				written[k][op.ID] = true
			}
		}
	}
	p.RoundTrips /= n
	p.Received /= n
	p.StoreMS /= n
	for k := range p.ByKind {
		p.ByKind[k] /= n
	}
	for k, l := range lines {
		l.Received /= l.PerRequest
		l.PerRequest /= n
		l.MS /= n
		if k.kind == "scan" && k.coll != "" {
			l.CollectionDocs, l.CollectionBytes = collectionSize(ctx, db, k.coll)
		}
		for id := range written[k] {
			raw, err := db.Collection(k.coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
			if err == nil {
				l.DocBytes = max(l.DocBytes, len(raw))
			}
		}
		p.Lines = append(p.Lines, *l)
	}
	slices.SortFunc(p.Lines, func(a, b profileLine) int { return cmp.Compare(b.MS, a.MS) })
	return p
}

// collectionSize returns a collection's document count and data size.
func collectionSize(ctx context.Context, db *mongo.Database, coll string) (int64, int64) {
	var st struct {
		Count int64 `bson:"count"`
		Size  int64 `bson:"size"`
	}
	_ = db.RunCommand(ctx, bson.D{{Key: "collStats", Value: coll}}).Decode(&st)
	return st.Count, st.Size
}

// print writes the profile as text, one line per kind of command.
func (p storeProfile) print(w io.Writer) {
	kinds := make([]string, 0, len(p.ByKind))
	for k, v := range p.ByKind {
		kinds = append(kinds, fmt.Sprintf("%.1f %s", v, k))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "    %.1f store round trips per %s (%s), %s received, %.1f ms in the store\n",
		p.RoundTrips, p.Unit, strings.Join(kinds, ", "), bytesText(int64(p.Received)), p.StoreMS)
	for _, l := range p.Lines {
		fmt.Fprintf(w, "      %5.1f× %-13s %-22s %-6s %7.1f ms  %s", l.PerRequest, l.Command, l.Collection, l.Kind, l.MS, bytesText(int64(l.Received)))
		if l.MaxDoc > 0 {
			fmt.Fprintf(w, " (largest %s)", bytesText(int64(l.MaxDoc)))
		}
		if l.CollectionDocs > 0 {
			fmt.Fprintf(w, "; scans %d documents, %s", l.CollectionDocs, bytesText(l.CollectionBytes))
		}
		if l.DocBytes > 0 {
			fmt.Fprintf(w, "; rewrites a document of %s", bytesText(int64(l.DocBytes)))
		}
		fmt.Fprintln(w)
	}
}

// bytesText is a byte count for people: 512 B, 14.2 KB, 2.1 MB.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// phaseProfile is what one step of the seeding did to the store, in total
// and per submission seeded.
type phaseProfile struct {
	Phase      string        `json:"phase"`
	StoreMS    float64       `json:"store_ms"`
	RoundTrips int           `json:"round_trips"`
	Lines      []profileLine `json:"commands"` // PerRequest is per submission
}

// phaseMS is the store time of each phase so far, in milliseconds.
func (r *storeRecorder) phaseMS() map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]float64{}
	for phase, ops := range r.phases {
		for _, op := range ops {
			out[phase] += ms(op.Took)
		}
	}
	return out
}

// phaseProfiles sums the recorder's phases, slowest first.
func (r *storeRecorder) phaseProfiles(submissions int) []phaseProfile {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []phaseProfile
	for phase, ops := range r.phases {
		p := phaseProfile{Phase: phase}
		for _, op := range ops {
			p.StoreMS += ms(op.Took)
			p.RoundTrips += op.Count
			p.Lines = append(p.Lines, profileLine{Command: op.Command, Collection: op.Collection, Kind: op.Kind,
				PerRequest: float64(op.Count) / float64(submissions), Received: float64(op.Received) / float64(op.Count), MS: ms(op.Took), MaxMS: ms(op.Max)})
		}
		slices.SortFunc(p.Lines, func(a, b profileLine) int { return cmp.Compare(b.MS, a.MS) })
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b phaseProfile) int { return cmp.Compare(b.StoreMS, a.StoreMS) })
	return out
}

// printPhases writes the seeding's phases as text: the commands that took
// most of each phase's store time.
func printPhases(w io.Writer, phases []phaseProfile, submissions int) {
	for _, p := range phases {
		fmt.Fprintf(w, "    %-9s %8.1f s in the store, %d round trips (%.1f per submission)\n", p.Phase, p.StoreMS/1000, p.RoundTrips, float64(p.RoundTrips)/float64(submissions))
		for i, l := range p.Lines {
			if i == 8 || l.MS < p.StoreMS/100 {
				break
			}
			fmt.Fprintf(w, "      %6.2f/submission %-13s %-22s %-6s %8.1f s  %s each, slowest %.0f ms\n", l.PerRequest, l.Command, l.Collection, l.Kind, l.MS/1000, bytesText(int64(l.Received)), l.MaxMS)
		}
	}
}
