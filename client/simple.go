package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/node"
)

// simplePlay is the state of the simple fetch policy for one play: keep
// Window chunks in flight from the read position on; take each chunk from
// the cache, else from the track's peers in turn, else from an origin.
type simplePlay struct {
	c  *Client
	pb *Playback

	lookupDone chan struct{} // closed when the provider lookup has ended

	mu       sync.Mutex // guards the fields below
	peers    []*PeerSource
	known    map[peer.ID]bool
	provided bool
}

func (c *Client) runSimple(ctx context.Context, pb *Playback) {
	sp := &simplePlay{c: c, pb: pb, known: map[peer.ID]bool{}, lookupDone: make(chan struct{})}
	track, err := cid.Decode(pb.stats.TrackID)
	if err != nil {
		pb.fail(err)
		return
	}
	var lookups sync.WaitGroup
	if c.swarm != nil {
		lookups.Add(1)
		go func() {
			defer lookups.Done()
			defer close(sp.lookupDone)
			sp.findPeers(ctx, track)
		}()
	} else {
		close(sp.lookupDone)
	}
	defer lookups.Wait()

	type result struct {
		i   int
		err error
	}
	inflight := map[int]bool{}
	results := make(chan result)
	drain := func() {
		for len(inflight) > 0 {
			delete(inflight, (<-results).i)
		}
	}
	for {
		for _, i := range pb.want(c.window-len(inflight), inflight) {
			inflight[i] = true
			go func(i int) {
				results <- result{i, sp.fetchChunk(ctx, track, i)}
			}(i)
		}
		if len(inflight) == 0 {
			return // complete, or closed
		}
		select {
		case r := <-results:
			delete(inflight, r.i)
			if r.err != nil {
				if ctx.Err() == nil {
					c.log.Warn("chunk failed from every source", "track", pb.stats.TrackID, "chunk", r.i, "err", r.err)
				}
				pb.fail(r.err)
				drain()
				return
			}
		case <-ctx.Done():
			drain()
			return
		}
	}
}

// findPeers adds the track's DHT providers to the play's peer list.
func (sp *simplePlay) findPeers(ctx context.Context, track cid.Cid) {
	provs, err := sp.c.swarm.FindProviders(ctx, track, sp.c.maxProv)
	if err != nil {
		if ctx.Err() == nil {
			sp.c.log.Debug("provider lookup failed", "track", track, "err", err)
		}
		return
	}
	for _, ai := range provs {
		if err := sp.c.swarm.Connect(ctx, ai); err != nil {
			sp.c.log.Debug("connect to provider failed", "peer", ai.ID, "err", err)
			continue
		}
		sp.addPeer(ai.ID)
	}
}

func (sp *simplePlay) addPeer(p peer.ID) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.known[p] {
		sp.known[p] = true
		// Providers found for this track go first: they hold it.
		sp.peers = append([]*PeerSource{NewPeerSource(sp.c.swarm, p)}, sp.peers...)
	}
}

// candidates lists the sources to try for chunk i, in order.
func (sp *simplePlay) candidates(c cid.Cid, i int) []ChunkSource {
	var out []ChunkSource
	if sp.c.cache != nil && sp.c.cache.Has(c) {
		out = append(out, CacheSource{sp.c.cache})
	}
	sp.mu.Lock()
	n := len(sp.peers)
	for k := 0; k < n; k++ {
		// Rotate the starting peer by chunk index to spread the load.
		out = append(out, sp.peers[(i+k)%n])
	}
	sp.mu.Unlock()
	return append(out, sp.c.origins...)
}

// fetchChunk gets chunk i from the first source that delivers it verified.
func (sp *simplePlay) fetchChunk(ctx context.Context, track cid.Cid, i int) error {
	pb := sp.pb
	ch := pb.m.Chunks[i]
	if sp.c.cache == nil || !sp.c.cache.Has(ch.CID) {
		// The simple policy waits for the provider lookup rather than
		// spend origin bandwidth; the deadline scheduler races instead.
		select {
		case <-sp.lookupDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var errs []error
	for _, src := range sp.candidates(ch.CID, i) {
		if pb.isBanned(src) {
			continue
		}
		if src.Kind() == KindOrigin {
			reason := "no peer source"
			if len(errs) > 0 {
				reason = "peers failed"
			}
			pb.noteOrigin(reason)
		}
		data, err := sp.fetchFrom(ctx, src, ch.CID)
		if err == nil {
			err = pb.deliver(i, data, src)
		}
		if err == nil {
			sp.stored(ctx, track, ch.CID, data, src)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pb.noteError()
		errs = append(errs, err)
	}
	return fmt.Errorf("chunk %d (%s): %w: %w", i, ch.CID, ErrNoSource, errors.Join(errs...))
}

// stored caches a verified chunk and, once the node holds part of the
// track, announces it so that other peers can find this node.
func (sp *simplePlay) stored(ctx context.Context, track, c cid.Cid, data []byte, src ChunkSource) {
	if sp.c.cache == nil || src.Kind() == KindCache {
		return
	}
	if err := sp.c.cache.Put(ctx, c, data); err != nil {
		sp.c.log.Warn("cache put failed", "chunk", c, "err", err)
		return
	}
	if sp.c.swarm == nil {
		return
	}
	sp.mu.Lock()
	first := !sp.provided
	sp.provided = true
	sp.mu.Unlock()
	if first {
		go func() {
			if err := sp.c.swarm.Provide(context.WithoutCancel(ctx), track); err != nil {
				sp.c.log.Debug("provide failed", "track", track, "err", err)
			}
		}()
	}
}

// fetchFrom asks one source, bounding a peer's answer by PeerTimeout. A
// peer that sends a corrupt chunk, times out, or is not admitted is not
// asked again during the play.
func (sp *simplePlay) fetchFrom(ctx context.Context, src ChunkSource, c cid.Cid) ([]byte, error) {
	if src.Kind() != KindPeer {
		return src.Fetch(ctx, c)
	}
	fctx, cancel := context.WithTimeout(ctx, sp.c.peerTimeout)
	defer cancel()
	data, err := src.Fetch(fctx, c)
	switch {
	case err == nil:
	case errors.Is(err, node.ErrCorruptChunk):
		sp.pb.ban(src, true)
	case errors.Is(err, node.ErrNotAdmitted), errors.Is(fctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		sp.pb.ban(src, false)
	}
	return data, err
}
