package llm

import (
	"fmt"
	"sync"
	"time"
)

// budget enforces Config.TokensPerMinute (a token bucket) and
// Config.MaxTokensPerHour (a rolling window of 60 one-minute slots).
//
// A request reserves its estimated size before it is sent and settles the
// difference once the real usage is known, so concurrent requests cannot
// overshoot the bucket by more than their estimates' error. When the bucket
// cannot cover a reservation within maxWait, reserve fails with ErrBudget at
// once: the caller falls back instead of queueing behind a budget that may
// stay exhausted for minutes.
type budget struct {
	mu      sync.Mutex
	now     func() time.Time
	perMin  float64 // bucket capacity; 0 = unlimited
	tokens  float64 // current level; negative after a settle overshoot
	last    time.Time
	perHour int64 // 0 = unlimited
	slots   [60]struct {
		minute int64 // Unix minute this slot counts
		used   int64
	}
	maxWait time.Duration
}

func newBudget(perMinute, perHour int, maxWait time.Duration, now func() time.Time) *budget {
	if now == nil {
		now = time.Now
	}
	return &budget{now: now, perMin: float64(perMinute), tokens: float64(perMinute), last: now(),
		perHour: int64(perHour), maxWait: maxWait}
}

// reserve takes n tokens. It returns how long the caller must wait before
// sending (0 normally; at most maxWait while the bucket refills), or an
// error wrapping ErrBudget.
func (b *budget) reserve(n int) (time.Duration, error) {
	if b.perMin == 0 && b.perHour == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.perHour > 0 {
		used := b.hourUsedLocked(now)
		if used+int64(n) > b.perHour {
			return 0, fmt.Errorf("%w: %d of max_tokens_per_hour %d used in the last hour, request needs %d",
				ErrBudget, used, b.perHour, n)
		}
	}
	var wait time.Duration
	if b.perMin > 0 {
		if float64(n) > b.perMin {
			return 0, fmt.Errorf("%w: request needs %d tokens, more than tokens_per_minute %d",
				ErrBudget, n, int64(b.perMin))
		}
		b.refillLocked(now)
		if deficit := float64(n) - b.tokens; deficit > 0 {
			wait = time.Duration(deficit / b.perMin * float64(time.Minute))
			if wait > b.maxWait {
				return 0, fmt.Errorf("%w: tokens_per_minute %d spent; %d tokens needed in %v",
					ErrBudget, int64(b.perMin), n, wait.Round(time.Millisecond))
			}
		}
		b.tokens -= float64(n)
	}
	b.addLocked(now, int64(n))
	return wait, nil
}

// settle replaces a reservation by what was really used (0 to refund).
func (b *budget) settle(reserved, actual int) {
	if b.perMin == 0 && b.perHour == 0 || reserved == actual {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.perMin > 0 {
		b.refillLocked(now)
		b.tokens += float64(reserved - actual)
		if b.tokens > b.perMin {
			b.tokens = b.perMin
		}
	}
	b.addLocked(now, int64(actual-reserved))
}

func (b *budget) refillLocked(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += b.perMin * dt.Minutes()
		if b.tokens > b.perMin {
			b.tokens = b.perMin
		}
		b.last = now
	}
}

func (b *budget) addLocked(now time.Time, n int64) {
	if b.perHour == 0 {
		return
	}
	m := now.Unix() / 60
	s := &b.slots[m%60]
	if s.minute != m {
		s.minute, s.used = m, 0
	}
	s.used += n
}

func (b *budget) hourUsedLocked(now time.Time) int64 {
	m := now.Unix() / 60
	var used int64
	for _, s := range b.slots {
		if m-s.minute < 60 {
			used += s.used
		}
	}
	return used
}
