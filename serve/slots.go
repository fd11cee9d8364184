package serve

import (
	"context"
	"sync"
)

// slotPool is a first-come-first-served semaphore in two dimensions: the
// samples running at once (size slots) and their estimated memory (budget
// bytes; 0: unbounded). A call takes all it needs at once (an averaged
// result runs its samples together), so two calls never hold part of
// what each needs.
type slotPool struct {
	mu        sync.Mutex
	size      int
	used      int
	budget    int64
	usedBytes int64
	waiters   []*slotWaiter
}

type slotWaiter struct {
	n     int
	bytes int64
	ready chan struct{}
}

func newSlotPool(size int, budget int64) *slotPool { return &slotPool{size: size, budget: budget} }

// fits reports whether n slots and bytes are free now (p.mu held).
func (p *slotPool) fits(n int, bytes int64) bool {
	return p.used+n <= p.size && (p.budget <= 0 || p.usedBytes+bytes <= p.budget)
}

// acquire takes n slots (n <= size) and bytes (<= budget), waiting in
// turn, or returns ctx's error.
func (p *slotPool) acquire(ctx context.Context, n int, bytes int64) error {
	p.mu.Lock()
	if len(p.waiters) == 0 && p.fits(n, bytes) {
		p.used += n
		p.usedBytes += bytes
		p.mu.Unlock()
		return nil
	}
	w := &slotWaiter{n: n, bytes: bytes, ready: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			p.used -= n
			p.usedBytes -= bytes
			p.grant()
		default:
			for i, x := range p.waiters {
				if x == w {
					p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
					break
				}
			}
			p.grant() // the next in line may fit now
		}
		p.mu.Unlock()
		return ctx.Err()
	}
}

// release gives n slots and bytes back.
func (p *slotPool) release(n int, bytes int64) {
	p.mu.Lock()
	p.used -= n
	p.usedBytes -= bytes
	p.grant()
	p.mu.Unlock()
}

// grant wakes the waiters at the head of the line that fit (p.mu held).
func (p *slotPool) grant() {
	for len(p.waiters) > 0 && p.fits(p.waiters[0].n, p.waiters[0].bytes) {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.used += w.n
		p.usedBytes += w.bytes
		close(w.ready)
	}
}

// running is the slots in use and their bytes.
func (p *slotPool) running() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.usedBytes
}
