package prior

import (
	"math"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mathext"
)

// The beta family's grid weights when A < 1 or B < 1. Its density is then
// infinite at 0 or 1, so a grid point there cannot be weighed by the
// density; each point is weighed by the prior's mass over its cell instead,
//
//	[x_i − h/2, x_i + h/2] ∩ [0, 1], h = 1/(points−1),
//
// the cells tiling [0, 1], so the weights are the prior's own probabilities
// of the grid's neighbourhoods and sum to 1 before any normalising.

// betaCells says whether Beta(ps[0], ps[1]) is weighed by cells.
func betaCells(ps [maxParams]float64) bool { return ps[0] < 1 || ps[1] < 1 }

// Where a difference of two incomplete beta values cannot be trusted, the
// cell's mass is integrated instead (betaQuadLogMass):
//   - tailFloor: the larger of the two values is this small, near the end
//     of float64's range, where an incomplete beta loses digits and then
//     underflows to 0 although the mass, in log space, is perfectly finite;
//   - cancelBelow: the difference is this small a fraction of the larger
//     value, so rounding in the two values (about 1e-15 of each) would
//     leave fewer than eleven good digits. This happens only where the
//     density is nearly flat over the cell compared with the tail before
//     it, e.g. in the trough of a U-shaped Beta(0.01, 0.01), which is
//     exactly where quadrature is easy.
const (
	tailFloor   = 1e-280
	cancelBelow = 1e-4
)

// gonum's incomplete beta function holds about 14 digits for parameters in
// [incBetaMin, incBetaMax] (measured against closed forms). Below, I_x(1, b)
// loses digits (it is off by 4e-6 of itself at b = 1e-4); above, its
// log-beta constant does (logBeta).
// A prior with a parameter outside has every cell integrated instead.
const (
	incBetaMin = 1e-3
	incBetaMax = 1e5
)

// betaLogCellMass is the log of Beta(a, b)'s mass over the cell of point i
// of linspace(0, 1, points): RegIncBeta(a, b, hi) − RegIncBeta(a, b, lo).
// It is taken from the tail on the cell's side of the mean, where the
// values are small and keep their relative precision: I_x(a, b) below the
// mean, and the mirror image I_{1−x}(b, a) above it; where that cannot be
// trusted, by quadrature (betaQuadLogMass).
func betaLogCellMass(a, b float64, i, points int) float64 {
	lo, hi, loC, hiC := cellEnds(i, points)
	if min(a, b) < incBetaMin || max(a, b) > incBetaMax {
		return betaQuadLogMass(a, b, lo, hi, loC, hiC)
	}
	var scale, mass float64
	switch mean := a / (a + b); {
	case hi <= mean:
		scale, mass = incBetaDiff(a, b, hi, lo)
	case lo >= mean:
		scale, mass = incBetaDiff(b, a, loC, hiC)
	default: // the cell holds the mean: all but the two tails
		scale, mass = 1, 1-mathext.RegIncBeta(a, b, lo)-mathext.RegIncBeta(b, a, hiC)
	}
	if scale >= tailFloor && mass >= cancelBelow*scale {
		return math.Log(mass)
	}
	return betaQuadLogMass(a, b, lo, hi, loC, hiC)
}

// cellEnds is the cell of point i of linspace(0, 1, points) and the
// distances of its ends from 1, each one rounding of an exact ratio of
// integers.
func cellEnds(i, points int) (lo, hi, loC, hiC float64) {
	k2 := 2 * (points - 1)
	l, h := max(0, 2*i-1), min(k2, 2*i+1)
	return float64(l) / float64(k2), float64(h) / float64(k2), float64(k2-l) / float64(k2), float64(k2-h) / float64(k2)
}

// incBetaDiff is I_x2(a, b) and I_x2(a, b) − I_x1(a, b), for x1 <= x2.
func incBetaDiff(a, b, x2, x1 float64) (top, diff float64) {
	top = mathext.RegIncBeta(a, b, x2)
	return top, top - mathext.RegIncBeta(a, b, x1)
}

// betaQuadLogMass is the log of Beta(a, b)'s mass over [lo, hi]
// (loC = 1 − lo, hiC = 1 − hi), integrated in log space so that a mass far
// below float64's range stays finite.
//
// An end cell that holds the mean of a prior with a large parameter holds
// nearly all its mass, packed against the end: there the mass is one minus
// the rest, a regular integral, which is what is precise. An end cell where
// the density is infinite is integrated by singularEnd.
func betaQuadLogMass(a, b, lo, hi, loC, hiC float64) float64 {
	lbeta := logBeta(a, b)
	f := func(x float64) float64 { return xlogy(a-1, x) + xlogy(b-1, 1-x) }
	mean := a / (a + b)
	switch {
	case lo == 0 && a < 1 && b >= 1 && mean < hi:
		return log1mExp(logIntegral(f, hi, 1) - lbeta)
	case hiC == 0 && b < 1 && a >= 1 && mean > lo:
		return log1mExp(logIntegral(f, 0, lo) - lbeta)
	case lo == 0 && a < 1:
		return singularEnd(a, b, hi) - lbeta
	case hiC == 0 && b < 1:
		return singularEnd(b, a, loC) - lbeta // the mirror image
	}
	return logIntegral(f, lo, hi) - lbeta
}

// singularEnd is log ∫_0^c x^(a−1) (1−x)^(b−1) dx for a < 1 and c <= ½,
// where the integrand is infinite at 0: the integral of x^(a−1), c^a/a,
// plus that of x^(a−1)·((1−x)^(b−1) − 1), which is bounded (like x^a at 0)
// and of one sign. With the cell not holding the mean (betaQuadLogMass),
// the second is at most 1 − e^-1.5 of the first, so nothing cancels.
func singularEnd(a, b, c float64) float64 {
	head := a*math.Log(c) - math.Log(a)
	if b == 1 {
		return head
	}
	g := func(x float64) float64 {
		return (a-1)*math.Log(x) + math.Log(math.Abs(math.Expm1((b-1)*math.Log1p(-x))))
	}
	r := math.Exp(logIntegral(g, 0, c) - head)
	if b > 1 {
		return head + math.Log1p(-r)
	}
	return head + math.Log1p(r)
}

// log1mExp is log(1 − e^x) for x <= 0, precise on both sides of −log 2.
func log1mExp(x float64) float64 {
	if x < -math.Ln2 {
		return math.Log1p(-math.Exp(x))
	}
	return math.Log(-math.Expm1(x))
}

// legendre16 is the 16-point Gauss–Legendre rule on [−1, 1], exact for
// polynomials of degree 31.
var legendre16 = func() (r struct{ x, w [16]float64 }) {
	quad.Legendre{}.FixedLocations(r.x[:], r.w[:], -1, 1)
	return r
}()

// Bounds of logIntegral's adaptive bisection: the relative accuracy it
// aims at, and the most panels it evaluates for one integral.
const (
	quadTol       = 1e-13
	maxQuadPanels = 256
	epsilon       = 0x1p-52
)

// logIntegral is log ∫_lo^hi exp(f(t)) dt for a piecewise smooth f (it may
// be −Inf at an end), by adaptive Gauss–Legendre: a panel is halved until
// its two halves agree with it to quadTol, or it holds less than quadTol of
// what is already summed. Sums are taken in log space, so nothing
// underflows.
//
// A steep f (far in a tail of a prior with a large parameter) keeps its
// mass within a tiny distance of its higher end; halving the whole interval
// down to that distance would take a panel pair for each of up to 50
// halvings. Such an f is integrated instead on panels that start at that
// end, 2^-k of the interval wide, and double outward until they hold
// nothing. This relies on f being monotone where it is steep, as the log
// densities here are: monotone on a cell, or convex and flat.
func logIntegral(f func(float64) float64, lo, hi float64) float64 {
	q := logQuad{f: f, budget: maxQuadPanels, total: math.Inf(-1)}
	near := (hi - lo) / 64
	fLo, fHi := f(lo+near), f(hi-near)
	drop := math.Abs(fLo - fHi) // +Inf where f is −Inf at one end only
	if !(drop > steep) {
		return q.refine(lo, hi, q.panel(lo, hi))
	}
	// The first panel holds a change of f of about 1 if the slope were
	// even, and is wide enough for its nodes to be distinct numbers;
	// doubling reaches the other end in at most 60 panels.
	k := int(math.Ceil(math.Log2(min(drop, 0x1p60))))
	width := max((hi-lo)*math.Exp2(float64(-k)), 64*epsilon*max(math.Abs(lo), math.Abs(hi)))
	sum := math.Inf(-1)
	for edge, w := 0.0, width; edge < hi-lo; edge, w = edge+w, 2*w {
		end := min(edge+w, hi-lo)
		a, b := lo+edge, lo+end
		if fLo < fHi {
			a, b = hi-end, hi-edge
		}
		part := q.refine(a, b, q.panel(a, b))
		sum = logAdd(sum, part)
		if math.IsInf(part, -1) || part < sum+math.Log(quadTol) {
			break // f falls further from here on
		}
	}
	return sum
}

// steep is the change of f across an interval beyond which logIntegral
// starts at the higher end.
const steep = 40

type logQuad struct {
	f      func(float64) float64
	budget int     // panels left to evaluate
	total  float64 // log of the mass of the panels accepted so far
}

// panel is log ∫ exp(f) over [lo, hi] by the 16-point rule.
func (q *logQuad) panel(lo, hi float64) float64 {
	q.budget--
	half := (hi - lo) / 2
	var terms [16]float64
	top := math.Inf(-1)
	for k, x := range legendre16.x {
		terms[k] = q.f(lo+(x+1)*half) + math.Log(legendre16.w[k]*half)
		top = max(top, terms[k])
	}
	if math.IsInf(top, -1) {
		return top
	}
	var sum float64
	for _, v := range terms {
		sum += math.Exp(v - top)
	}
	return top + math.Log(sum)
}

// refine returns log ∫ exp(f) over [lo, hi], whose one-panel estimate is
// whole, and adds it to total.
func (q *logQuad) refine(lo, hi, whole float64) float64 {
	mid := lo + (hi-lo)/2
	l, r := q.panel(lo, mid), q.panel(mid, hi)
	both := logAdd(l, r)
	// A log of large magnitude is itself only that precise: e^-1e12 is
	// known to 1e-4 of itself at best.
	tol := max(quadTol, 8*epsilon*math.Abs(both))
	converged := math.Abs(both-whole) <= tol
	negligible := math.IsInf(both, -1) || both < q.total+math.Log(quadTol)
	if converged || negligible || q.budget < 2 || mid == lo || mid == hi {
		q.total = logAdd(q.total, both)
		return both
	}
	if l >= r {
		l = q.refine(lo, mid, l)
		return logAdd(l, q.refine(mid, hi, r))
	}
	r = q.refine(mid, hi, r)
	return logAdd(q.refine(lo, mid, l), r)
}

// logAdd is log(exp(x) + exp(y)).
func logAdd(x, y float64) float64 {
	if x < y {
		x, y = y, x
	}
	if math.IsInf(y, -1) {
		return x
	}
	return x + math.Log1p(math.Exp(y-x))
}

// logBeta is log B(a, b) for a cell prior, where min(a, b) < 1. It is
// gonum's Lgamma-based value while the larger parameter is moderate; beyond
// that, lgamma(b) − lgamma(a+b) is a difference of two nearly equal large
// numbers (at b = 1e12 gonum's value is off by 1e-3), and it is taken from
// Stirling's series instead, term by term, where nothing cancels.
func logBeta(a, b float64) float64 {
	small, big := min(a, b), max(a, b)
	if big <= incBetaMax {
		return mathext.Lbeta(a, b)
	}
	// lgamma(x) = (x − ½)·log x − x + ½·log 2π + 1/(12x) − …, the next term
	// below 1e-16 here; with s = small and t = big:
	// lgamma(t) − lgamma(t+s) = −(t − ½)·log1p(s/t) − s·log(t+s) + s − s/(12·t·(t+s)).
	lg, _ := math.Lgamma(small)
	d := -(big-0.5)*math.Log1p(small/big) - small*math.Log(big+small) + small - small/(12*big*(big+small))
	return lg + d
}
