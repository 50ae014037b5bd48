"""Small SVG plotting with the standard library only: line charts (linear or log axes) and
grouped bar charts, with axes, ticks, units, a title and a legend. Used by scripts/report.py."""
import math
from xml.sax.saxutils import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
W, H = 760, 460
ML, MR, MT, MB = 80, 190, 50, 60  # margins: the legend sits on the right


def _nice_ticks(lo, hi, n=6):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _log_ticks(lo, hi):
    """Ticks at m * 10^e; the densest mantissa set that stays at or below 10 ticks in range."""
    best = []
    for mants in ((1,), (1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = []
        e = math.floor(math.log10(lo))
        while 10 ** e <= hi * 1.0001:
            for m in mants:
                v = m * 10 ** e
                if lo / 1.0001 <= v <= hi * 1.0001:
                    ticks.append(v)
            e += 1
        if len(ticks) <= 10:
            best = ticks
        if len(best) >= 4:
            break
    return best or [lo, hi]


def _snap125(v, down):
    """The nearest 1, 2 or 5 x 10^e at or below (down) / above v, so a log axis ends on a labelled tick."""
    e = math.floor(math.log10(v))
    cands = [m * 10 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    if down:
        return max(c for c in cands if c <= v * 1.0001)
    return min(c for c in cands if c >= v / 1.0001)


def _fmt(v):
    """Tick labels: short."""
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def _value(v):
    """Data labels: three significant digits."""
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


class _Axis:
    def __init__(self, lo, hi, log, length, invert=False):
        self.log = log
        if log:
            lo, hi = _snap125(max(lo, 1e-12), down=True), _snap125(max(hi, 1e-12), down=False)
            self.lo, self.hi = math.log10(lo), math.log10(hi)
            if self.hi == self.lo:
                self.lo, self.hi = self.lo - 0.5, self.hi + 0.5
            self.ticks = _log_ticks(10 ** self.lo, 10 ** self.hi)
        else:
            if hi == lo:
                lo, hi = lo - 1, hi + 1
            self.ticks = _nice_ticks(lo, hi)
            self.lo, self.hi = min(lo, self.ticks[0]), max(hi, self.ticks[-1])
        self.length, self.invert = length, invert

    def pos(self, v):
        x = math.log10(max(v, 1e-12)) if self.log else v
        f = (x - self.lo) / (self.hi - self.lo)
        return self.length * (1 - f) if self.invert else self.length * f


def _frame(title, xlabel, ylabel):
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{ML + (W - ML - MR) / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{escape(title)}</text>',
           f'<text x="{ML + (W - ML - MR) / 2}" y="{H - 15}" text-anchor="middle" font-size="13">{escape(xlabel)}</text>',
           f'<text transform="translate(20,{MT + (H - MT - MB) / 2}) rotate(-90)" text-anchor="middle" font-size="13">'
           f'{escape(ylabel)}</text>']
    return out


def _legend(items, boxes=False):
    out = ['<g class="legend">']
    x0, y0 = W - MR + 15, MT + 10
    for i, (label, color, dash) in enumerate(items):
        y = y0 + 20 * i
        if boxes:
            out.append(f'<rect x="{x0 + 4}" y="{y - 7}" width="16" height="14" fill="{color}"/>')
        else:
            d = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + 24}" y2="{y}" stroke="{color}" stroke-width="2.5"{d}/>')
        out.append(f'<text x="{x0 + 30}" y="{y + 4}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _plot_area(title, xlabel, ylabel, ay, pw, ph):
    """Frame, title, axis labels, the plot rectangle and the y grid with its tick labels; leaves
    the plot group open (translated to the plot area)."""
    out = _frame(title, xlabel, ylabel)
    out.append(f'<g transform="translate({ML},{MT})">')
    out.append(f'<rect width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    for t in ay.ticks:
        y = ay.pos(t)
        if -0.5 <= y <= ph + 0.5:
            out.append(f'<line x1="0" y1="{y:.1f}" x2="{pw}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="-6" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    return out


def line_chart(series, title, xlabel, ylabel, logx=False, logy=False, markers=None):
    """series: list of dicts {label, points: [(x, y)], color?, dash?}; markers: [(x, text)] for
    vertical annotations (e.g. learning-rate steps)."""
    pts = [p for s in series for p in s["points"]]
    if not pts:
        raise ValueError("line_chart: no data")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    pw, ph = W - ML - MR, H - MT - MB
    ax = _Axis(min(xs), max(xs), logx, pw)
    ylo = min(ys) if logy else min(0.0, min(ys))
    ay = _Axis(ylo, max(ys) * (1.0 if logy else 1.05), logy, ph, invert=True)
    out = _plot_area(title, xlabel, ylabel, ay, pw, ph)
    for t in ax.ticks:
        x = ax.pos(t)
        if -0.5 <= x <= pw + 0.5:
            out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{ph}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{ph + 18}" text-anchor="middle">{_fmt(t)}</text>')
    for mx, text in markers or []:
        x = ax.pos(mx)
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{ph}" stroke="#999" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="12" fill="#555" font-size="11">{escape(text)}</text>')
    legend = []
    for i, s in enumerate(series):
        color = s.get("color", PALETTE[i % len(PALETTE)])
        dash = s.get("dash", "")
        path = " ".join(f"{ax.pos(x):.1f},{ay.pos(y):.1f}" for x, y in s["points"])
        d = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" stroke-width="2.5"{d}/>')
        for x, y in s["points"]:
            out.append(f'<circle cx="{ax.pos(x):.1f}" cy="{ay.pos(y):.1f}" r="3.5" fill="{color}"/>')
        legend.append((s["label"], color, dash))
    out.append("</g>")
    out += _legend(legend)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(categories, series, title, ylabel, xlabel=""):
    """categories: list of group names; series: list of dicts {label, values (one per category)}."""
    pw, ph = W - ML - MR, H - MT - MB
    vmax = max((v for s in series for v in s["values"]), default=1) or 1
    ay = _Axis(0, vmax * 1.08, False, ph, invert=True)
    out = _plot_area(title, xlabel, ylabel, ay, pw, ph)
    gw = pw / max(len(categories), 1)
    bw = gw * 0.8 / max(len(series), 1)
    legend = []
    for j, s in enumerate(series):
        color = s.get("color", PALETTE[j % len(PALETTE)])
        legend.append((s["label"], color, ""))
        for i, v in enumerate(s["values"]):
            x = i * gw + gw * 0.1 + j * bw
            y = ay.pos(v)
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bw * 0.92:.1f}" height="{ph - y:.1f}" fill="{color}"/>')
            out.append(f'<text x="{x + bw * 0.46:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10">{_value(v)}</text>')
    for i, c in enumerate(categories):
        out.append(f'<text x="{i * gw + gw / 2:.1f}" y="{ph + 18}" text-anchor="middle">{escape(c)}</text>')
    out.append("</g>")
    out += _legend(legend, boxes=True)
    out.append("</svg>")
    return "\n".join(out) + "\n"
