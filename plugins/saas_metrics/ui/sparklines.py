"""Small inline SVG trend lines for the metrics page, without a charting library."""

from __future__ import annotations

from markupsafe import Markup

STROKE = "#1d3557"


def sparkline(values: list[float | None], *, width: int = 180, height: int = 40, label: str = "") -> Markup:
    """Return an SVG polyline of `values` (None leaves a gap), the last point marked.

    An empty or all-None series gives an empty string.
    """
    points = [(index, value) for index, value in enumerate(values) if value is not None]
    if not points:
        return Markup("")
    low = min(value for _, value in points)
    high = max(value for _, value in points)
    span = high - low or 1.0
    step = (width - 8) / max(len(values) - 1, 1)

    def position(index: int, value: float) -> tuple[float, float]:
        return 4 + index * step, height - 4 - (value - low) / span * (height - 8)

    segments: list[list[tuple[float, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(position(index, value))
    lines = "".join(
        f'<polyline fill="none" stroke="{STROKE}" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
        + '"/>'
        for segment in segments
        if segment
    )
    last_x, last_y = position(*points[-1])
    return Markup(
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{Markup.escape(label)}">{lines}'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="{STROKE}"/></svg>'
    )
