package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/frontend-api/web"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/notify/smtpmail"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/payouts"
)

// deps are the opened dependencies every command shares: the store, S3,
// and each service, built once here and given to those that call it.
type deps struct {
	store    *mongostore.Store
	blobs    *blob.Store
	s3       *blob.Embedded // nil with a configured S3
	accounts *account.Service
	unlock   func()
	rmTemp   func()
	closing  sync.Once

	intake    *intake.Service
	matching  *matching.Service
	feedback  *feedback.Service
	analytics *analytics.Service
	payouts   *payouts.Service

	// notify is the outbox and inboxes every service raises events into;
	// sender delivers its email (with no SMTP configured it only records
	// each message as not mailed and keeps the inbox).
	notify    *notify.Service
	sender    *notify.Sender
	lti       *lti.Tool // nil unless MARGIN_PUBLIC_URL is set
	ltiGrades *ltiGrades
}

// open connects to (or starts) the store and S3. With either embedded, the
// data directory is locked so that a second process cannot corrupt it.
func open(ctx context.Context, cfg Config, logger *slog.Logger) (*deps, error) {
	return openMonitored(ctx, cfg, logger, nil)
}

// openMonitored is open with a command monitor on the store's client (the
// bench counts store round trips with it); monitor may be nil.
func openMonitored(ctx context.Context, cfg Config, logger *slog.Logger, monitor *event.CommandMonitor) (*deps, error) {
	d := &deps{unlock: func() {}, rmTemp: func() {}}
	embedded := cfg.MongoURI == "" || cfg.S3Endpoint == ""
	if embedded {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		d.unlock = unlock
	}
	ok := false
	defer func() {
		if !ok {
			d.close(context.WithoutCancel(ctx))
		}
	}()
	rmTemp, err := useTempDir(cfg.TmpDir, logger)
	if err != nil {
		return nil, err
	}
	d.rmTemp = rmTemp

	blobCfg := blob.Config{Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Region: cfg.S3Region, PathStyle: cfg.S3PathStyle}
	if cfg.S3Endpoint == awsS3 {
		blobCfg.Endpoint, blobCfg.PathStyle = "", false
	}
	if cfg.S3Endpoint == "" {
		pause := "" // MARGIN_TEST_FAULT names one service's fault point
		if strings.HasPrefix(cfg.TestFault, "blob.") {
			pause = cfg.TestFault
		}
		e, err := blob.StartEmbedded(filepath.Join(cfg.DataDir, "blobs"), blob.EmbeddedOptions{Logger: logger, TestPause: pause})
		if err != nil {
			return nil, err
		}
		d.s3 = e
		blobCfg = e.Config(cfg.S3Bucket)
	}
	d.store, err = mongostore.Open(ctx, mongostore.Config{URI: cfg.MongoURI, Database: cfg.MongoDatabase, DataDir: cfg.DataDir, Logger: logger, Monitor: monitor})
	if err != nil {
		return nil, err
	}
	if d.blobs, err = blob.New(ctx, blobCfg); err != nil {
		return nil, err
	}
	if err := d.blobs.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	d.accounts = account.New(d.store.DB)
	if err := d.accounts.EnsureIndexes(ctx); err != nil {
		return nil, fmt.Errorf("account indexes: %w", err)
	}
	// Each service once, given what it calls: intake first, since every
	// other service reads it; payouts last, reading feedback's payable log.
	db, accts := d.store.DB, d.accounts
	intakeCfg := cfg.Intake
	intakeCfg.SoleProcess = d.store.Embedded
	if cfg.TestFault == intake.PauseBeforeRow {
		intakeCfg.TestPause = cfg.TestFault
	}
	d.intake = intake.New(db, d.blobs, accts, intakeCfg, logger.With("service", "intake"))
	d.matching = matching.New(db, accts, d.intake, cfg.Matching, logger.With("service", "matching"))
	d.feedback = feedback.New(db, accts, d.intake, d.matching, cfg.Feedback, logger.With("service", "feedback"))
	d.analytics = analytics.New(db, d.intake, d.matching, d.feedback, cfg.Analytics, logger.With("service", "analytics"))
	pc := cfg.Payouts
	pc.Exclusive = d.store.Embedded // the data directory is locked: no other process holds a run
	d.payouts = payouts.New(db, accts, d.feedback, pc, logger.With("service", "payouts"))
	// School billing: publishing holds credit and closing releases it
	// through payouts; charges name students by pseudonym through intake.
	d.intake.SetFunds(d.payouts)
	d.payouts.SetPseudonyms(d.intake)
	for name, ix := range map[string]interface{ EnsureIndexes(context.Context) error }{
		"intake": d.intake, "matching": d.matching, "feedback": d.feedback, "analytics": d.analytics, "payouts": d.payouts,
	} {
		if err := ix.EnsureIndexes(ctx); err != nil {
			return nil, fmt.Errorf("%s indexes: %w", name, err)
		}
	}
	if err := d.openNotify(ctx, cfg.Notify, logger); err != nil {
		return nil, err
	}
	if err := d.openLTI(cfg.LTI, logger); err != nil {
		return nil, err
	}
	if err := d.intake.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("intake migration: %w", err)
	}
	// Feedback's before payouts': payouts reads the payable log it builds.
	for _, m := range []struct {
		name string
		svc  interface{ Migrate(context.Context) error }
	}{{"matching", d.matching}, {"feedback", d.feedback}, {"analytics", d.analytics}, {"payouts", d.payouts}} {
		if err := m.svc.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("%s migration: %w", m.name, err)
		}
	}
	// Recovery takes time in proportion to the work a crash left in flight;
	// what it has not finished in a minute, intake's loop finishes later.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := d.intake.Recover(rctx); err != nil && rctx.Err() == nil {
		return nil, fmt.Errorf("intake recovery: %w", err)
	}
	ok = true
	return d, nil
}

// openNotify builds the notifications service once, gives it to the
// services that raise events, and makes the Sender: over SMTP when
// MARGIN_SMTP_URL is set, else with no mailer (the inbox only).
func (d *deps) openNotify(ctx context.Context, cfg notify.Config, logger *slog.Logger) error {
	var err error
	if d.notify, err = notify.New(ctx, d.store.DB, cfg, logger.With("service", "notify")); err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	var mailer notify.Mailer
	if cfg.SMTPURL != "" {
		srv, err := cfg.SMTP()
		if err != nil {
			return err
		}
		m, err := smtpmail.New(srv, cfg.MailFrom, nil)
		if err != nil {
			return fmt.Errorf("notifications: %w", err)
		}
		mailer = m
	}
	d.sender = d.notify.NewSender(mailer)
	d.intake.SetNotifier(d.notify)
	d.matching.SetNotifier(d.notify)
	d.feedback.SetNotifier(d.notify)
	d.payouts.SetNotifier(d.notify)
	return nil
}

// close releases everything open opened, the store last; calls after the
// first do nothing.
func (d *deps) close(ctx context.Context) {
	d.closing.Do(func() { d.closeOnce(ctx) })
}

func (d *deps) closeOnce(ctx context.Context) {
	if d.s3 != nil {
		_ = d.s3.Close(ctx)
	}
	if d.store != nil {
		if err := d.store.Close(ctx); err != nil {
			slog.Warn("closing the store", "err", err)
		}
	}
	d.rmTemp()
	d.unlock()
}

// lockDataDir takes an exclusive lock on dir/LOCK, so that two processes
// never run the embedded store on the same files.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another margin process is using %s; stop it first (the embedded store serves one process)", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// server is the HTTP API and the web pages on d's services.
func (d *deps) server(cfg api.Config, ready map[string]api.Pinger, logger *slog.Logger) *api.Server {
	srv := api.New(cfg, api.Deps{
		Accounts: d.accounts, Intake: d.intake, Matching: d.matching, Feedback: d.feedback,
		Analytics: d.analytics, Payouts: d.payouts, Notify: d.notify, LTI: d.ltiAPI(), Ready: ready, Logger: logger,
	})
	web.Register(srv)
	return srv
}
