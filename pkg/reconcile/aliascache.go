package reconcile

import (
	"sync"
	"time"
)

// DefaultAliasTTL is how long a container keeps an alias (or key id) it
// resolved to a key ARN. An alias that is moved to another key (UpdateAlias)
// is seen at the latest after this long; until then the key it named
// before is still read and evaluated in full on every run (its policy is
// read right before any write), and a cached key that is gone or no longer
// enabled is resolved again at once.
const DefaultAliasTTL = 5 * time.Minute

// aliasCache maps account|region|alias-or-id to a key ARN for the life of
// a warm container, each entry for a fixed time. Only successful
// resolutions are stored, so a key created later is seen on the next run.
type aliasCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]aliasEntry
}

type aliasEntry struct {
	keyARN  string
	expires time.Time
}

func (c *aliasCache) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

func (c *aliasCache) get(ref string) (string, bool) {
	if c == nil || c.ttl <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[ref]
	if !ok || !c.clock().Before(e.expires) {
		delete(c.m, ref)
		return "", false
	}
	return e.keyARN, true
}

func (c *aliasCache) put(ref, keyARN string) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]aliasEntry{}
	}
	c.m[ref] = aliasEntry{keyARN: keyARN, expires: c.clock().Add(c.ttl)}
}

func (c *aliasCache) forget(ref string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, ref)
}

// WithAliasCache sets how long a resolved alias is kept per Reconciler
// (default DefaultAliasTTL; 0 turns the cache off) and its clock (nil:
// time.Now).
func WithAliasCache(ttl time.Duration, now func() time.Time) Option {
	return func(r *Reconciler) { r.aliases = &aliasCache{ttl: ttl, now: now} }
}
