package cuda

import (
	"errors"
	"fmt"

	"sdzero/kernels"
)

var _ kernels.Recorder = (*Backend)(nil)

// errCapturing is the error of host-side work attempted inside Record.
var errCapturing = errors.New("not allowed while recording a graph (Record's fn may only queue compute ops)")

// Record captures the ops fn queues into a CUDA graph (stream capture in
// relaxed mode) without running them, and instantiates it. Scratch blocks
// the ops take from the caching allocator are held by the graph until
// Free, so no other tensor can reuse them between replays.
func (b *Backend) Record(fn func()) (kernels.Graph, error) {
	d := &b.drv
	if b.opts.NoGraphs {
		return nil, errors.New("cuda Record: graphs are off (Options.NoGraphs)")
	}
	if d.cuStreamBeginCapture == nil || d.cuStreamEndCapture == nil || d.cuGraphInstantiateWithFlags == nil ||
		d.cuGraphLaunch == nil || d.cuGraphExecDestroy == nil || d.cuGraphDestroy == nil {
		return nil, errors.New("cuda Record: the CUDA driver lacks the graph API (cuStreamBeginCapture_v2 ...)")
	}
	if b.capturing {
		return nil, errors.New("cuda Record: already recording")
	}
	defer b.enter()()
	if b.firstErr != nil {
		return nil, fmt.Errorf("cuda Record: an earlier op failed: %w", b.firstErr)
	}
	if err := d.err("cuStreamBeginCapture_v2", d.cuStreamBeginCapture(b.stream, cuStreamCaptureRelaxed)); err != nil {
		return nil, fmt.Errorf("cuda Record: %w", err)
	}
	var held []heldBlock
	b.capturing, b.alloc.hold = true, &held
	var graph uintptr
	func() {
		// Whatever fn does (even panic), the capture must end, or the
		// stream stays unusable.
		defer func() {
			b.capturing, b.alloc.hold = false, nil
			b.check("Record", "cuStreamEndCapture", d.cuStreamEndCapture(b.stream, &graph))
		}()
		fn()
	}()
	release := func() {
		for _, h := range held {
			b.alloc.put(h.p, h.c)
		}
	}
	if b.firstErr != nil {
		// Nothing ran: the ops were only captured. Report and clear.
		if graph != 0 {
			d.cuGraphDestroy(graph)
		}
		release()
		err := b.firstErr
		b.firstErr = nil
		return nil, fmt.Errorf("cuda Record: %w", err)
	}
	var exec uintptr
	r := d.cuGraphInstantiateWithFlags(&exec, graph, 0)
	d.cuGraphDestroy(graph) // the executable graph is independent of it
	if err := d.err("cuGraphInstantiateWithFlags", r); err != nil {
		release()
		return nil, fmt.Errorf("cuda Record: %w", err)
	}
	return &cudaGraph{b: b, exec: exec, held: held}, nil
}

// cudaGraph is an instantiated CUDA graph.
type cudaGraph struct {
	b    *Backend
	exec uintptr
	held []heldBlock
}

// Replay launches the graph on the backend's stream.
func (g *cudaGraph) Replay() {
	b := g.b
	if g.exec == 0 {
		panic("cuda: Graph replayed after Free")
	}
	if b.firstErr != nil && isSticky(b.firstErr) {
		return
	}
	defer b.enter()()
	b.alloc.stats.GraphReplays++
	b.check("Graph.Replay", "cuGraphLaunch", b.drv.cuGraphLaunch(g.exec, b.stream))
}

// Free destroys the graph and returns its scratch blocks to the cache
// (stream order keeps a replay still queued safe).
func (g *cudaGraph) Free() {
	b := g.b
	if g.exec == 0 || b.closed {
		g.exec = 0
		return
	}
	defer b.enter()()
	b.check("Graph.Free", "cuGraphExecDestroy", b.drv.cuGraphExecDestroy(g.exec))
	g.exec = 0
	for _, h := range g.held {
		b.alloc.put(h.p, h.c)
	}
	g.held = nil
}

// refuseInCapture records errCapturing for op when a graph is being
// recorded, and reports whether it did.
func (b *Backend) refuseInCapture(op string) bool {
	if b.capturing {
		b.fail(op, errCapturing)
		return true
	}
	return false
}
