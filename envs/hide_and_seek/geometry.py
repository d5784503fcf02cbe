"""Grid geometry: Bresenham lines and the view cone.

A cell is *seen* by an agent if it lies within ``view_radius`` (Euclidean), inside the cone
around the agent's facing, and no cell strictly between the two on the Bresenham line from
the agent to the cell is a wall or a box. The agent's own cell is always seen.
"""

from __future__ import annotations

from functools import cache

from diverse_marl.envs.hide_and_seek.config import DIRECTIONS

_EPS = 1e-9


@cache
def bresenham(d_row: int, d_col: int) -> tuple[tuple[int, int], ...]:
    """Cells (as offsets from the origin) on the line from (0, 0) to (d_row, d_col), both ends included.

    Integer Bresenham, stepping along the major axis; ties (error exactly zero) step the minor
    axis late, which makes the line from the origin deterministic.
    """
    cells = []
    r, c = 0, 0
    dr, dc = abs(d_row), abs(d_col)
    sr = 1 if d_row > 0 else -1
    sc = 1 if d_col > 0 else -1
    if dc >= dr:  # column is the major axis
        err = 2 * dr - dc
        for _ in range(dc + 1):
            cells.append((r, c))
            if err > 0:
                r += sr
                err -= 2 * dc
            err += 2 * dr
            c += sc
    else:
        err = 2 * dc - dr
        for _ in range(dr + 1):
            cells.append((r, c))
            if err > 0:
                c += sc
                err -= 2 * dr
            err += 2 * dc
            r += sr
    return tuple(cells)


def between(d_row: int, d_col: int) -> tuple[tuple[int, int], ...]:
    """Offsets strictly between the origin and (d_row, d_col) on the Bresenham line."""
    return bresenham(d_row, d_col)[1:-1]


def in_view(d_row: int, d_col: int, facing: int, radius: int, cone_cos: float) -> bool:
    """Is offset (d_row, d_col) within the radius and the view cone of an agent facing ``facing``?"""
    if d_row == 0 and d_col == 0:
        return True
    dist2 = d_row * d_row + d_col * d_col
    if dist2 > radius * radius:
        return False
    fr, fc = DIRECTIONS[facing]
    dot = d_row * fr + d_col * fc
    return dot >= cone_cos * dist2**0.5 - _EPS
