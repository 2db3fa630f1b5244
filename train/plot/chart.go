// Package plot draws line charts of a run's metrics as PNG files, with the
// standard library's image packages and the basicfont bitmap face only (no
// CGO, no fonts on disk).
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one curve: points (X[i], Y[i]); NaN or Inf values are skipped.
type Series struct {
	Name string
	X, Y []float64
	// Smooth > 0 also draws an exponential moving average with that
	// weight on the previous value (e.g. 0.9), bold, over a faint raw curve.
	Smooth float64
}

// Chart is a titled line chart with labelled axes.
//
// Every series stays visible: a series equal to an earlier one is drawn
// dashed over it and named "identical to" it in the legend; a series of
// few points (at most MarkerMax) gets a marker at each point, so that a
// lone evaluation point is seen; the legend goes to the corner with the
// fewest points under it.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Width and Height in pixels (defaults 800 x 500).
	Width, Height int
	// XMin and XMax, when XMax > XMin, widen the x axis to cover at least
	// [XMin, XMax] (a run's whole step range for a metric logged at a few
	// steps only); YMin and YMax the same for the y axis.
	XMin, XMax, YMin, YMax float64
}

// MarkerMax is the most finite points a series may have to be drawn with
// markers.
const MarkerMax = 25

// Palette is the series colours, in order.
var Palette = []color.RGBA{
	{31, 119, 180, 255},  // blue
	{214, 39, 40, 255},   // red
	{44, 160, 44, 255},   // green
	{255, 127, 14, 255},  // orange
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{23, 190, 207, 255},  // cyan
}

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	gridCol = color.RGBA{225, 225, 225, 255}
	face    = basicfont.Face7x13
)

const (
	charW   = 7
	lineH   = 13
	marginL = 80
	marginR = 24
	marginT = 36
	marginB = 56
)

// Render draws the chart. It fails when no series has a finite point.
func (c *Chart) Render() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 800
	}
	if h <= 0 {
		h = 500
	}
	if w < marginL+marginR+50 || h < marginT+marginB+50 {
		return nil, fmt.Errorf("plot %q: %dx%d is too small", c.Title, w, h)
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	npts := 0
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot %q: series %q has %d x and %d y values", c.Title, s.Name, len(s.X), len(s.Y))
		}
		for i := range s.X {
			if !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			npts++
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if npts == 0 {
		return nil, fmt.Errorf("plot %q: no finite points", c.Title)
	}
	if c.XMax > c.XMin && finite(c.XMin) && finite(c.XMax) {
		xmin, xmax = math.Min(xmin, c.XMin), math.Max(xmax, c.XMax)
	}
	if c.YMax > c.YMin && finite(c.YMin) && finite(c.YMax) {
		ymin, ymax = math.Min(ymin, c.YMin), math.Max(ymax, c.YMax)
	}
	xt := niceTicks(xmin, xmax, 8)
	yt := niceTicks(ymin, ymax, 6)
	x0, x1 := xt[0], xt[len(xt)-1]
	y0, y1 := yt[0], yt[len(yt)-1]

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	pl, pr, pt, pb := marginL, w-marginR, marginT, h-marginB // plot area
	// Halved differences: x1-x0 overflows to +Inf for a range of ±1e308
	// (halving is exact for all but subnormal values).
	px := func(x float64) float64 { return float64(pl) + (x/2-x0/2)/(x1/2-x0/2)*float64(pr-pl) }
	py := func(y float64) float64 { return float64(pb) - (y/2-y0/2)/(y1/2-y0/2)*float64(pb-pt) }

	// Grid, ticks and tick labels.
	for _, v := range yt {
		y := int(math.Round(py(v)))
		hline(img, pl, pr, y, gridCol)
		hline(img, pl-5, pl, y, black)
		s := formatTick(v, yt)
		drawText(img, pl-8-textWidth(s), y+4, s, black)
	}
	for _, v := range xt {
		x := int(math.Round(px(v)))
		vline(img, x, pt, pb, gridCol)
		vline(img, x, pb, pb+5, black)
		s := formatTick(v, xt)
		drawText(img, x-textWidth(s)/2, pb+18, s, black)
	}
	// Axes box.
	hline(img, pl, pr, pb, black)
	hline(img, pl, pr, pt, black)
	vline(img, pl, pt, pb, black)
	vline(img, pr, pt, pb, black)

	// Curves, clipped to the plot area; markers may reach a few pixels
	// past it, so that a point on the edge is whole.
	clip := image.Rect(pl+1, pt+1, pr, pb)
	mclip := image.Rect(pl-6, pt-6, pr+7, pb+7)
	same := c.identical()
	for i, s := range c.Series {
		col := Palette[i%len(Palette)]
		raw := col
		if s.Smooth > 0 {
			raw = blend(col, white, 0.65)
		}
		dash := 0
		if same[i] >= 0 {
			dash = 8 // over the same curve drawn solid: both colours show
		}
		polyline(img, clip, s.X, s.Y, px, py, raw, s.Smooth <= 0, dash)
		if s.Smooth > 0 {
			polyline(img, clip, s.X, ema(s.Y, s.Smooth), px, py, col, true, dash)
		}
		if n := finitePoints(s); n <= MarkerMax {
			r := 3.5
			switch {
			case n == 1:
				r = 5.5
			case same[i] >= 0:
				r = 2 // inside the earlier series' marker: a ring of each colour
			}
			for k := range s.X {
				if finite(s.X[k]) && finite(s.Y[k]) {
					marker(img, mclip, px(s.X[k]), py(s.Y[k]), r, col)
				}
			}
		}
	}

	// Title, axis labels and legend.
	drawText(img, (w-textWidth(c.Title))/2, 22, c.Title, black)
	drawText(img, pl+(pr-pl-textWidth(c.XLabel))/2, h-14, c.XLabel, black)
	drawTextVertical(img, 14, pt+(pb-pt+textWidth(c.YLabel))/2, c.YLabel, black)
	if len(c.Series) > 1 || c.Series[0].Name != "" {
		names := make([]string, len(c.Series))
		lw := 0
		for i, s := range c.Series {
			names[i] = legendName(s)
			if same[i] >= 0 {
				names[i] += " (identical to " + c.Series[same[i]].Name + ")"
			}
			lw = max(lw, textWidth(names[i]))
		}
		bw, bh := lw+40, len(c.Series)*16+6
		box := c.legendBox(pl, pr, pt, pb, bw, bh, px, py)
		draw.Draw(img, box, &image.Uniform{color.NRGBA{255, 255, 255, 230}}, image.Point{}, draw.Over)
		lx, ly := box.Min.X+6, box.Min.Y+4
		full := img.Bounds()
		for i, s := range c.Series {
			col := Palette[i%len(Palette)]
			yy := ly + i*16 + 7
			if same[i] >= 0 {
				// The dashed sample over the earlier series' colour.
				for t := -1; t <= 1; t++ {
					hline(img, lx, lx+24, yy+t, Palette[same[i]%len(Palette)])
				}
			}
			for x := lx; x <= lx+24; x++ {
				if same[i] < 0 || (x-lx)%12 < 6 {
					for t := -1; t <= 1; t++ {
						img.SetRGBA(x, yy+t, col)
					}
				}
			}
			if finitePoints(s) <= MarkerMax {
				marker(img, full, float64(lx+12), float64(yy), 3.5, col)
			}
			drawText(img, lx+30, yy+4, names[i], black)
		}
	}
	return img, nil
}

// identical returns, for each series, the index of the first earlier
// series with exactly the same points, or -1.
func (c *Chart) identical() []int {
	same := make([]int, len(c.Series))
	for i := range c.Series {
		same[i] = -1
		for j := 0; j < i && same[i] < 0; j++ {
			if samePoints(c.Series[i], c.Series[j]) {
				same[i] = j
			}
		}
	}
	return same
}

func samePoints(a, b Series) bool {
	if len(a.X) != len(b.X) || a.Smooth != b.Smooth {
		return false
	}
	for k := range a.X {
		if !sameValue(a.X[k], b.X[k]) || !sameValue(a.Y[k], b.Y[k]) {
			return false
		}
	}
	return true
}

func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func finitePoints(s Series) int {
	n := 0
	for k := range s.X {
		if finite(s.X[k]) && finite(s.Y[k]) {
			n++
		}
	}
	return n
}

// legendBox places a w x h legend in the corner of the plot area with the
// fewest data points under it (top right on a tie).
func (c *Chart) legendBox(pl, pr, pt, pb, w, h int, px, py func(float64) float64) image.Rectangle {
	corners := []image.Rectangle{
		image.Rect(pr-6-w, pt+4, pr-6, pt+4+h), // top right
		image.Rect(pl+6, pt+4, pl+6+w, pt+4+h), // top left
		image.Rect(pr-6-w, pb-4-h, pr-6, pb-4), // bottom right
		image.Rect(pl+6, pb-4-h, pl+6+w, pb-4), // bottom left
	}
	best, bestN := corners[0], -1
	for _, r := range corners {
		grown := r.Inset(-8)
		n := 0
		for _, s := range c.Series {
			for k := range s.X {
				if !finite(s.X[k]) || !finite(s.Y[k]) {
					continue
				}
				if image.Pt(int(px(s.X[k])), int(py(s.Y[k]))).In(grown) {
					n++
				}
			}
		}
		if bestN < 0 || n < bestN {
			best, bestN = r, n
		}
	}
	return best
}

// marker draws a filled disc of radius r at (x, y) with a white rim, so
// that it stands out over a curve of the same colour.
func marker(img *image.RGBA, clip image.Rectangle, x, y, r float64, c color.RGBA) {
	if !finite(x) || !finite(y) {
		return
	}
	R := int(math.Ceil(r + 1))
	cx, cy := int(math.Round(x)), int(math.Round(y))
	for dy := -R; dy <= R; dy++ {
		for dx := -R; dx <= R; dx++ {
			d := math.Hypot(float64(dx), float64(dy))
			switch {
			case d <= r:
				setClip(img, clip, cx+dx, cy+dy, c)
			case d <= r+1:
				setClip(img, clip, cx+dx, cy+dy, white)
			}
		}
	}
}

func legendName(s Series) string {
	if s.Smooth > 0 {
		return s.Name + " (EMA " + strconv.FormatFloat(s.Smooth, 'g', -1, 64) + ")"
	}
	return s.Name
}

// WritePNG renders the chart and writes it to path atomically.
func (c *Chart) WritePNG(path string) error {
	img, err := c.Render()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plot-*.png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := png.Encode(tmp, img); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("plot: encode %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp made it 0600
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("plot: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func ema(y []float64, beta float64) []float64 {
	out := make([]float64, len(y))
	var m float64
	started := false
	for i, v := range y {
		if !finite(v) {
			out[i] = math.NaN()
			continue
		}
		if !started {
			m, started = v, true
		} else {
			m = beta*m + (1-beta)*v
		}
		out[i] = m
	}
	return out
}

func blend(a, b color.RGBA, t float64) color.RGBA {
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// niceTicks returns evenly spaced round tick values covering [lo, hi]
// (finite, lo <= hi), about n of them (Heckbert's "nice numbers"), at
// least two and all finite: near ±math.MaxFloat64 the outer ticks are the
// range's ends instead of round values beyond the float range.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi/2-lo/2 < 0.5e-12*math.Max(1, math.Abs(hi)) {
		d := math.Max(math.Abs(lo)*0.1, 0.5)
		lo, hi = math.Max(lo-d, -math.MaxFloat64), math.Min(hi+d, math.MaxFloat64)
	}
	// 2*((hi/2-lo/2)/(n-1)) is (hi-lo)/(n-1) without overflowing.
	step := niceNum(2*((hi/2-lo/2)/float64(n-1)), true)
	start := math.Floor(lo/step) * step
	if start > lo { // lo/step underflowed to -0
		start -= step
	}
	if math.IsInf(start, 0) {
		start = lo
	}
	end := math.Ceil(hi/step) * step
	if end < hi {
		end += step
	}
	if math.IsInf(end, 0) {
		end = hi
	}
	var t []float64
	for i := 0; i <= 4*n; i++ {
		v := start + float64(i)*step
		if math.IsInf(v, 0) || v > end+step*0.5 {
			break
		}
		if r := math.Round(v/step) * step; finite(r) {
			v = r
		}
		t = append(t, v)
	}
	if len(t) < 2 || t[len(t)-1] < hi {
		t = append(t, end)
	}
	return t
}

func niceNum(x float64, round bool) float64 {
	e := math.Floor(math.Log10(x))
	f := x / math.Pow(10, e)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, e)
}

// formatTick prints v with as many decimals as the tick spacing needs.
func formatTick(v float64, ticks []float64) string {
	step := 1.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	if math.Abs(v) >= 1e6 || (v != 0 && math.Abs(v) < 1e-4) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

// polyline joins consecutive finite points with 2-pixel lines (1 pixel
// when !bold), dashed (dash pixels on, dash off, along the curve) when
// dash > 0; a single point becomes a small square.
func polyline(img *image.RGBA, clip image.Rectangle, xs, ys []float64, px, py func(float64) float64, c color.RGBA, bold bool, dash int) {
	prevOK := false
	var ax, ay float64
	single := 0
	walked := 0 // pixels along the curve, for the dash phase
	for i := range xs {
		if !finite(xs[i]) || !finite(ys[i]) {
			prevOK = false
			continue
		}
		bx, by := px(xs[i]), py(ys[i])
		if prevOK {
			walked = line(img, clip, ax, ay, bx, by, c, bold, dash, walked)
		}
		ax, ay, prevOK = bx, by, true
		single++
	}
	if single == 1 {
		for dx := -2; dx <= 2; dx++ {
			for dy := -2; dy <= 2; dy++ {
				setClip(img, clip, int(math.Round(ax))+dx, int(math.Round(ay))+dy, c)
			}
		}
	}
}

// line draws a segment; with dash > 0 it is on for dash pixels and off
// for dash, starting walked pixels into the pattern, and returns the
// pixels walked after it.
func line(img *image.RGBA, clip image.Rectangle, x0, y0, x1, y1 float64, c color.RGBA, bold bool, dash, walked int) int {
	d := math.Max(math.Abs(x1-x0), math.Abs(y1-y0))
	if !finite(d) {
		return walked // a point outside any image; nothing to draw
	}
	// Pixel steps along the segment, at most the image's size (the ends
	// lie in the plot area, but a rounding error must not loop for long).
	n := int(math.Ceil(math.Min(d, float64(2*(img.Bounds().Dx()+img.Bounds().Dy())))))
	if n == 0 {
		n = 1
	}
	for i := 0; i <= n; i++ {
		if dash > 0 && ((walked+i)/dash)%2 == 1 {
			continue
		}
		t := float64(i) / float64(n)
		x := int(math.Round(x0 + (x1-x0)*t))
		y := int(math.Round(y0 + (y1-y0)*t))
		setClip(img, clip, x, y, c)
		if bold {
			setClip(img, clip, x+1, y, c)
			setClip(img, clip, x, y+1, c)
		}
	}
	return walked + n
}

func setClip(img *image.RGBA, clip image.Rectangle, x, y int, c color.RGBA) {
	if image.Pt(x, y).In(clip) {
		img.SetRGBA(x, y, c)
	}
}

func textWidth(s string) int { return len([]rune(s)) * charW }

// drawText draws s with its baseline at y.
func drawText(img draw.Image, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// drawTextVertical draws s rotated 90 degrees counter-clockwise, reading
// bottom to top, starting at (x, y) (the text's bottom-left corner).
func drawTextVertical(img *image.RGBA, x, y int, s string, c color.RGBA) {
	tw := textWidth(s)
	tmp := image.NewRGBA(image.Rect(0, 0, tw, lineH+2))
	drawText(tmp, 0, lineH-2, s, c)
	for ty := 0; ty < tmp.Bounds().Dy(); ty++ {
		for tx := 0; tx < tw; tx++ {
			p := tmp.RGBAAt(tx, ty)
			if p.A == 0 {
				continue
			}
			// (tx, ty) -> (x + ty, y - tx): rotate counter-clockwise.
			img.SetRGBA(x+ty, y-tx, c)
		}
	}
}
