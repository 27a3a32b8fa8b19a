"""Charts as SVG made on the server: no script and nothing from another
origin (the page's CSP stays 'self'), and every label escaped (models, agents
and days come from events, which are untrusted input)."""

from __future__ import annotations

from html import escape

# Distinct on white and for the common colour blindnesses (Okabe and Ito's palette).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 64, 48, 12


def stacked_bars(title: str, columns: list[str], series: dict[str, list[float]], unit: str) -> str:
    """One bar per column (a day), stacked by series (a model), with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(columns))]
    top = max(totals, default=0) or 1
    step = (WIDTH - LEFT - 8) / max(len(columns), 1)
    bar = max(min(step * 0.7, 40), 1)
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} '
             f'{HEIGHT + 18 * len(series)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             _axis(top, unit)]
    for i, column in enumerate(columns):
        x, y = LEFT + i * step + (step - bar) / 2, HEIGHT - BOTTOM
        for n, (name, values) in enumerate(series.items()):
            height = values[i] / top * (HEIGHT - BOTTOM - TOP)
            if height > 0:
                y -= height
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                             f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(column)} {escape(name)}: '
                             f'{_amount(values[i], unit)}</title></rect>')
        if len(columns) <= 16 or i % (len(columns) // 16 + 1) == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
                         f'text-anchor="middle">{escape(column[5:] if len(column) == 10 else column)}</text>')
    for n, name in enumerate(series):
        y = HEIGHT + 4 + 18 * n
        parts.append(f'<rect x="{LEFT}" y="{y}" width="12" height="12" fill="{PALETTE[n % len(PALETTE)]}"/>'
                     f'<text x="{LEFT + 18}" y="{y + 10}" font-size="12">{escape(name)}</text>')
    return "".join(parts) + "</svg>"


def bars(title: str, values: dict[str, float], unit: str) -> str:
    """One horizontal bar per name (an agent instance)."""
    top = max(values.values(), default=0) or 1
    row = 22
    label = 260
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} '
             f'{row * len(values) + 8}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for n, (name, value) in enumerate(values.items()):
        width = value / top * (WIDTH - label - 90)
        y = 4 + n * row
        parts.append(f'<text x="{label - 6}" y="{y + 14}" font-size="12" text-anchor="end">{escape(name[:40])}'
                     f'</text><rect x="{label}" y="{y}" width="{max(width, 1):.1f}" height="16" fill="{PALETTE[0]}">'
                     f'<title>{escape(name)}: {_amount(value, unit)}</title></rect>'
                     f'<text x="{label + width + 6:.1f}" y="{y + 13}" font-size="11">{_amount(value, unit)}</text>')
    return "".join(parts) + "</svg>"


def _axis(top: float, unit: str) -> str:
    lines = []
    for fraction in (0, 0.5, 1):
        y = HEIGHT - BOTTOM - fraction * (HEIGHT - BOTTOM - TOP)
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{_amount(top * fraction, unit)}</text>')
    return "".join(lines)


def _amount(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"
