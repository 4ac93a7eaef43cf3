package plotfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/domain/model"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// StateName is the small file beside latest.png that says which state of
// the model latest.png shows: its epoch, counts and spec. It lets a restart
// skip redrawing a model whose image is already of its stored state (ten
// thousand models would otherwise cost minutes of CPU at every start), and
// it tells a draw after a reset that the numbered files in the folder are
// of an earlier epoch. It starts with a dot and never matches the numbered
// pattern, so retention and readers of the folder leave it alone.
const StateName = ".plotstate"

// drawnState is a state as an image shows it. Two equal drawnStates give
// the same image, whatever else differs between the model states.
type drawnState struct {
	epoch  int64
	counts model.Counts
	spec   events.ModelSpec
}

// sameImage: the image depends on the counts and the spec only (the title
// names the counts and grid, the curves come from the spec); the epoch is
// not drawn.
func (d drawnState) sameImage(o drawnState) bool {
	return d.counts == o.counts && d.spec == o.spec
}

// The file is one line, "v1 EPOCH N W GRID PRIOR", the prior last because
// it is the only free-form field (its syntax has no spaces, but the line
// does not depend on that).
const stateVersion = "v1"

func (d drawnState) encode() []byte {
	return fmt.Appendf(nil, "%s %d %d %d %d %s\n", stateVersion, d.epoch, d.counts.N, d.counts.W, d.spec.GridPoints, d.spec.Prior)
}

func parseDrawnState(b []byte) (drawnState, bool) {
	f := strings.SplitN(strings.TrimSuffix(string(b), "\n"), " ", 6)
	if len(f) != 6 || f[0] != stateVersion {
		return drawnState{}, false
	}
	var nums [4]int64
	for i := range nums {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || v < 0 {
			return drawnState{}, false
		}
		nums[i] = v
	}
	d := drawnState{epoch: nums[0], counts: model.Counts{N: nums[1], W: nums[2]},
		spec: events.ModelSpec{GridPoints: int(nums[3]), Prior: f[5]}}
	if !d.counts.Valid() || d.spec.Prior == "" {
		return drawnState{}, false
	}
	return d, true
}

// readDrawnState reads the folder's state file. A missing or unreadable
// file is no state (the folder of a model never drawn, or drawn before the
// file existed: its files are then of epoch 0).
func readDrawnState(dir string) (drawnState, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return drawnState{}, false, nil
	case err != nil:
		return drawnState{}, false, fmt.Errorf("reading %s: %w", StateName, err)
	}
	d, ok := parseDrawnState(b)
	return d, ok, nil
}
