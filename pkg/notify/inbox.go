package notify

import (
	"cmp"
	"context"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// The inbox of a user is a sequence of positions 0, 1, 2, …, one per
// message, kept PageSize to a page document ("<user>:<page>"). A head
// document per user says which position comes next and, as two bit masks
// per page, which positions are in place and which are unread, with the
// unread total. The masks make placing an item and marking it read
// idempotent single-document updates, so a crash and a retry can neither
// duplicate an item nor miscount. Every read and write is one document by
// _id, whatever the inbox's length. The masks are one binary field, so the
// head stays small (16 bytes a page) and cheap to read.

// PageSize is how many items an inbox page document holds.
const PageSize = 50

// maxItemText is how much of a message's text its inbox item keeps, so
// that a page stays small; the item links to the page with the details.
const maxItemText = 280

// maxTrackedPages bounds the head: the read state of pages older than the
// newest maxTrackedPages (20,000 items) is dropped, and their items count
// as read.
const maxTrackedPages = 400

const fullPage = uint64(1)<<PageSize - 1

// headDoc is a user's inbox head; every write goes through mongostore.Swap.
type headDoc struct {
	ID     string `bson:"_id"` // the user's ID
	Rev    int64  `bson:"rev"`
	Next   int64  `bson:"next"`   // the next position to give
	Unread int    `bson:"unread"` // the number of unread bits set
	// Base is the first page whose masks Bits holds; every page before it
	// is in place and read.
	Base int64 `bson:"base"`
	// Bits holds, for each page from Base on, its placed mask then its
	// unread mask, 8 bytes each, little-endian.
	Bits []byte `bson:"bits"`
	// Reserving maps a message (FieldKey of its ID) to the position given
	// to it until it is in place, so that a retry reuses it.
	Reserving map[string]int64 `bson:"reserving"`
}

// pageDoc is one page of an inbox.
type pageDoc struct {
	ID     string             `bson:"_id"` // "<user>:<page>"
	UserID string             `bson:"user_id"`
	Page   int64              `bson:"page"`
	Items  map[string]itemDoc `bson:"items"` // by slot, 0…PageSize-1
}

type itemDoc struct {
	ID    string    `bson:"id"` // the message's ID
	Pos   int64     `bson:"pos"`
	Kind  Kind      `bson:"kind"`
	Title string    `bson:"title"`
	Text  string    `bson:"text,omitempty"`
	Link  string    `bson:"link,omitempty"`
	At    time.Time `bson:"at"`
}

func pageOf(pos int64) (page int64, bit uint64) {
	return pos / PageSize, uint64(1) << (pos % PageSize)
}

func pageID(userID string, page int64) string { return userID + ":" + strconv.FormatInt(page, 10) }

// updateHead applies change to the user's inbox head and stores it when
// change reports a change (see update).
func (s *Service) updateHead(ctx context.Context, userID string, change func(*headDoc) bool) (headDoc, error) {
	return update(ctx, s.c(colHeads), userID, func() headDoc { return headDoc{ID: userID} },
		func(h *headDoc) *int64 { return &h.Rev },
		func(h *headDoc) bool { h.init(); return change(h) })
}

func (h *headDoc) init() {
	if h.Reserving == nil {
		h.Reserving = map[string]int64{}
	}
}

// pages is how many pages Bits holds.
func (h *headDoc) pages() int64 { return int64(len(h.Bits) / 16) }

// masks returns page p's placed and unread masks; ok is false for a page
// before Base (all in place and read) or one not reserved yet.
func (h *headDoc) masks(p int64) (placed, unread uint64, ok bool) {
	i := p - h.Base
	if i < 0 || i >= h.pages() {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(h.Bits[i*16:]), binary.LittleEndian.Uint64(h.Bits[i*16+8:]), true
}

// setMasks stores page p's masks (p must be tracked), then drops the
// leading pages that are full and read.
func (h *headDoc) setMasks(p int64, placed, unread uint64) {
	i := p - h.Base
	binary.LittleEndian.PutUint64(h.Bits[i*16:], placed)
	binary.LittleEndian.PutUint64(h.Bits[i*16+8:], unread)
	for h.pages() > 0 {
		if pl, un, _ := h.masks(h.Base); pl != fullPage || un != 0 {
			break
		}
		h.drop()
	}
}

// drop forgets the first tracked page; its unread items count as read.
func (h *headDoc) drop() {
	_, un, _ := h.masks(h.Base)
	h.Unread -= bits.OnesCount64(un)
	h.Bits = h.Bits[16:]
	h.Base++
}

// reserve gives message id its position: the one it was given before, or
// the next.
func (h *headDoc) reserve(id string) (pos int64, changed bool) {
	if p, ok := h.Reserving[mongostore.FieldKey(id)]; ok {
		return p, false
	}
	pos = h.Next
	h.Next++
	h.Reserving[mongostore.FieldKey(id)] = pos
	p, _ := pageOf(pos)
	if h.pages() == 0 {
		h.Base = p
	}
	for h.Base+h.pages() <= p {
		h.Bits = append(h.Bits, make([]byte, 16)...)
	}
	for h.pages() > maxTrackedPages {
		h.drop()
	}
	return pos, true
}

// settle records the item at pos in place (and unread, the first time) and
// forgets the reservation.
func (h *headDoc) settle(id string, pos int64) bool {
	changed := false
	if _, ok := h.Reserving[mongostore.FieldKey(id)]; ok {
		delete(h.Reserving, mongostore.FieldKey(id))
		changed = true
	}
	p, bit := pageOf(pos)
	placed, unread, ok := h.masks(p)
	if !ok || placed&bit != 0 {
		return changed // settled before (its page may since have been dropped)
	}
	h.Unread++
	h.setMasks(p, placed|bit, unread|bit)
	return true
}

// markRead clears pos's unread bit.
func (h *headDoc) markRead(pos int64) bool {
	p, bit := pageOf(pos)
	placed, unread, ok := h.masks(p)
	if !ok || unread&bit == 0 {
		return false
	}
	h.Unread--
	h.setMasks(p, placed, unread&^bit)
	return true
}

func (h *headDoc) markAllRead() bool {
	if h.Unread == 0 {
		return false
	}
	for p := h.Base + h.pages() - 1; p >= h.Base; p-- {
		placed, _, _ := h.masks(p)
		h.setMasks(p, placed, 0)
	}
	h.Unread = 0
	return true
}

// unread reports whether the item at pos is unread.
func (h *headDoc) unread(pos int64) bool {
	p, bit := pageOf(pos)
	_, unread, _ := h.masks(p)
	return unread&bit != 0
}

// place puts message m in its user's inbox, once: a position, the item on
// its page, the head's bits, then the message marked placed. Each step can
// be repeated after a crash without effect, so re-raising the event or the
// Sender finishes a placement a crash interrupted.
func (s *Service) place(ctx context.Context, m *messageDoc) error {
	if m.Placed {
		return nil
	}
	if m.Kind.Private() {
		// Email only: "placed" means there is no inbox work left.
		if _, err := s.c(colMessages).UpdateOne(ctx, byID(m.ID), set("placed", true)); err != nil {
			return errs.Wrap(err, "mark placed")
		}
		m.Placed = true
		return nil
	}
	if m.Pos == 0 {
		var pos int64
		if _, err := s.updateHead(ctx, m.UserID, func(h *headDoc) bool {
			var changed bool
			pos, changed = h.reserve(m.ID)
			return changed
		}); err != nil {
			return err
		}
		if err := s.fault("inbox:reserved"); err != nil {
			return err
		}
		if _, err := s.c(colMessages).UpdateOne(ctx, byID(m.ID), set("pos", pos+1)); err != nil {
			return errs.Wrap(err, "record inbox position")
		}
		m.Pos = pos + 1
	}
	pos := m.Pos - 1
	item := itemDoc{ID: m.ID, Pos: pos, Kind: m.Kind, Title: m.Title, Text: truncate(m.Text, maxItemText), Link: m.Link, At: m.CreatedAt}
	page := pos / PageSize
	if _, err := s.c(colPages).UpdateOne(ctx, byID(pageID(m.UserID, page)), bson.D{
		{Key: "$set", Value: bson.D{{Key: "items." + strconv.FormatInt(pos%PageSize, 10), Value: item}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "user_id", Value: m.UserID}, {Key: "page", Value: page}}},
	}, options.Update().SetUpsert(true)); err != nil {
		return errs.Wrap(err, "write inbox page")
	}
	if err := s.fault("inbox:page"); err != nil {
		return err
	}
	if _, err := s.updateHead(ctx, m.UserID, func(h *headDoc) bool { return h.settle(m.ID, pos) }); err != nil {
		return err
	}
	if err := s.fault("inbox:settled"); err != nil {
		return err
	}
	if _, err := s.c(colMessages).UpdateOne(ctx, byID(m.ID), set("placed", true)); err != nil {
		return errs.Wrap(err, "mark placed")
	}
	m.Placed = true
	return nil
}

// Item is one entry of an inbox.
type Item struct {
	ID    string    `json:"id"` // the message's ID, for MarkRead
	Kind  Kind      `json:"kind"`
	Title string    `json:"title"`
	Text  string    `json:"text,omitempty"` // the first 280 characters
	Link  string    `json:"link,omitempty"` // a path on Margin
	At    time.Time `json:"at"`
	Read  bool      `json:"read"`

	pos int64
}

// InboxPage is a page of an inbox, newest first.
type InboxPage struct {
	Items  []Item `json:"items"`
	Unread int    `json:"unread"` // in the whole inbox
	// Older is the page to ask for next, for older items; -1 when there
	// are none.
	Older int64 `json:"older"`
}

// Inbox returns a page of the user's inbox, newest first: page < 0 (or
// past the newest) is the newest page, which also takes in the page before
// it when it holds fewer than PageSize/2 items. It reads two or three
// documents by _id whatever the inbox's length. A user with no messages
// has an empty inbox.
func (s *Service) Inbox(ctx context.Context, userID string, page int64) (InboxPage, error) {
	h, err := s.head(ctx, userID)
	if err != nil || h.Next == 0 {
		return InboxPage{Items: []Item{}, Older: -1}, err
	}
	newest := (h.Next - 1) / PageSize
	if page < 0 || page > newest {
		page = newest
	}
	out := InboxPage{Items: []Item{}, Unread: h.Unread, Older: page - 1}
	for p := page; p >= 0; p-- {
		pd, err := mongostore.Get[pageDoc](ctx, s.c(colPages), pageID(userID, p), "inbox page")
		if err != nil && !errs.Is(err, errs.NotFound) {
			return InboxPage{}, err
		}
		out.Older = p - 1
		for _, it := range pd.Items {
			out.Items = append(out.Items, Item{ID: it.ID, Kind: it.Kind, Title: it.Title, Text: it.Text, Link: it.Link, At: it.At, Read: !h.unread(it.Pos), pos: it.Pos})
		}
		if p != newest || len(pd.Items) >= PageSize/2 {
			break
		}
	}
	slices.SortFunc(out.Items, func(a, b Item) int { return cmp.Compare(b.pos, a.pos) })
	return out, nil
}

// head returns the user's inbox head; an empty one when they have none.
func (s *Service) head(ctx context.Context, userID string) (headDoc, error) {
	h, err := mongostore.Get[headDoc](ctx, s.c(colHeads), userID, "inbox")
	if errs.Is(err, errs.NotFound) {
		return headDoc{ID: userID}, nil
	}
	return h, err
}

// Unread returns how many of the user's inbox items are unread: one read
// by _id.
func (s *Service) Unread(ctx context.Context, userID string) (int, error) {
	h, err := s.head(ctx, userID)
	return h.Unread, err
}

// MarkRead marks one of the user's messages read; marking it again is
// harmless. Returns errs.NotFound unless the message is the user's.
func (s *Service) MarkRead(ctx context.Context, userID, messageID string) error {
	m, err := mongostore.Get[messageDoc](ctx, s.c(colMessages), messageID, "notification")
	if err == nil && m.UserID != userID {
		err = errs.E(errs.NotFound, "No notification with ID %q.", messageID)
	}
	if err != nil {
		return err
	}
	if err := s.place(ctx, &m); err != nil {
		return err
	}
	_, err = s.updateHead(ctx, userID, func(h *headDoc) bool { return h.markRead(m.Pos - 1) })
	return err
}

// MarkAllRead marks every item of the user's inbox read: one document.
func (s *Service) MarkAllRead(ctx context.Context, userID string) error {
	_, err := s.updateHead(ctx, userID, (*headDoc).markAllRead)
	return err
}

func byID(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

func set(field string, v any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: v}}}}
}
