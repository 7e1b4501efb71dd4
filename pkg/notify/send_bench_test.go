package notify_test

import (
	"testing"
	"time"
)

// BenchmarkSend measures a message's whole way: Notify for one grader,
// then a Sender pass that places nothing more and mails it over STARTTLS
// with AUTH to the in-test SMTP server (a new connection per message).
//
//	go test ./pkg/notify -run '^$' -bench Send -benchtime 100x
func BenchmarkSend(b *testing.B) {
	e := newEnv(b, nil)
	i := 0
	var notifyTime, sendTime time.Duration
	for b.Loop() {
		start := time.Now()
		e.notify(offer(i))
		mid := time.Now()
		if n, err := e.sender.RunOnce(e.ctx); err != nil || n != 1 {
			b.Fatal(n, err)
		}
		notifyTime += mid.Sub(start)
		sendTime += time.Since(mid)
		i++
	}
	b.ReportMetric(float64(notifyTime.Microseconds())/float64(i)/1000, "ms-notify/op")
	b.ReportMetric(float64(sendTime.Microseconds())/float64(i)/1000, "ms-send/op")
	if got := len(e.smtp.Messages()); got != i {
		b.Fatalf("%d emails, want %d", got, i)
	}
}
