package serve

import (
	"context"
	"sync"
)

// slotPool is a first-come-first-served weighted semaphore: the samples
// running at once. A call takes all the slots it needs at once (an
// averaged result runs its samples together), so two calls never hold
// part of what each needs.
type slotPool struct {
	mu      sync.Mutex
	size    int
	used    int
	waiters []*slotWaiter
}

type slotWaiter struct {
	n     int
	ready chan struct{}
}

func newSlotPool(size int) *slotPool { return &slotPool{size: size} }

// acquire takes n slots (n <= size), waiting in turn, or returns ctx's
// error.
func (p *slotPool) acquire(ctx context.Context, n int) error {
	p.mu.Lock()
	if len(p.waiters) == 0 && p.used+n <= p.size {
		p.used += n
		p.mu.Unlock()
		return nil
	}
	w := &slotWaiter{n: n, ready: make(chan struct{})}
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

// release gives n slots back.
func (p *slotPool) release(n int) {
	p.mu.Lock()
	p.used -= n
	p.grant()
	p.mu.Unlock()
}

// grant wakes the waiters at the head of the line that fit (p.mu held).
func (p *slotPool) grant() {
	for len(p.waiters) > 0 && p.used+p.waiters[0].n <= p.size {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.used += w.n
		close(w.ready)
	}
}

// running is the slots in use.
func (p *slotPool) running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}
