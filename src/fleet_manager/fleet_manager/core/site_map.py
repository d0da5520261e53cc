"""The site map: occupancy grids in Nav2 map_server's format, and the map the dashboard draws.

An occupancy grid is the pair map_server reads: a YAML file (``image``, ``resolution``,
``origin``, ``negate``, ``occupied_thresh``, ``free_thresh``, optional ``mode``) and the image
it names (PGM as map_saver writes it, or PNG), relative to the YAML file. Pixels are
interpreted as map_server does: ``p = (255 - x) / 255`` (``x / 255`` with ``negate``), then
occupied when ``p > occupied_thresh``, free when ``p < free_thresh``, unknown otherwise
(``trinary``, the default); ``scale`` keeps the values in between as 0..99 and makes
transparent pixels unknown; ``raw`` keeps the pixel value. The image is read with Pillow.

``origin`` is the world pose of the lower-left pixel; image row 0 is the top of the map, so
the world y of a row grows as the row number falls (:meth:`OccupancyGrid.pixel_to_world`).
A rotated origin (yaw other than 0) is refused rather than drawn wrongly.

Every problem raises :class:`~fleet_common.config.ConfigError` naming the file and the key.
Nothing here imports rclpy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import io
import math
import os
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from fleet_common.config import ConfigError, ConfigReader, read_yaml

if TYPE_CHECKING:
    from fleet_manager.core.config import FleetConfig

__all__ = ['FREE', 'OCCUPIED', 'UNKNOWN', 'OccupancyGrid', 'load_occupancy', 'site_map']

FREE, OCCUPIED, UNKNOWN = 0, 100, 255
"""Cell values: free, occupied (as nav_msgs/OccupancyGrid) and unknown (-1 there)."""
MODES = ('trinary', 'scale', 'raw')
MAX_CELLS = 16_000_000
"""The largest grid accepted (4000 x 4000 cells: 200 m x 200 m at 5 cm)."""
DEFAULT_BOUNDS = (0.0, 0.0, 10.0, 10.0)
"""The map's extent (x_min, y_min, x_max, y_max, m) when nothing on it says otherwise."""


@dataclass(frozen=True)
class OccupancyGrid:
    """An occupancy grid: ``cells`` row-major from the top row, one uint8 per cell."""

    width: int
    height: int
    resolution: float
    """m per cell."""
    origin_x: float
    origin_y: float
    """World position (m) of the lower-left corner of the lower-left cell."""
    cells: bytes
    mode: str = 'trinary'
    source: str = ''

    def pixel_to_world(self, col: float, row: float) -> tuple[float, float]:
        """Return the world (x, y) of image point (col, row): (0, 0) is the top-left corner
        of the image, (width, height) its bottom-right corner."""
        return (self.origin_x + col * self.resolution,
                self.origin_y + (self.height - row) * self.resolution)

    def world_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Return the image point (col, row) of world (x, y); the inverse of
        :meth:`pixel_to_world`."""
        return ((x - self.origin_x) / self.resolution,
                self.height - (y - self.origin_y) / self.resolution)

    def cell_at(self, x: float, y: float) -> int | None:
        """Return the value of the cell containing world (x, y), or None outside the grid."""
        col, row = self.world_to_pixel(x, y)
        c, r = math.floor(col), math.floor(row)
        if not (0 <= c < self.width and 0 <= r < self.height):
            return None
        return self.cells[r * self.width + c]

    def bounds(self) -> tuple[float, float, float, float]:
        """Return (x_min, y_min, x_max, y_max) of the grid in the world, m."""
        return (self.origin_x, self.origin_y, self.origin_x + self.width * self.resolution,
                self.origin_y + self.height * self.resolution)

    def png(self) -> bytes:
        """Return the grid as an RGBA PNG for display: occupied dark, free light, unknown
        transparent grey (``scale`` values in between shade from light to dark)."""
        cells = np.frombuffer(self.cells, dtype=np.uint8).reshape(self.height, self.width)
        if self.mode == 'raw':
            shade = 255 - cells.astype(np.float64)
            alpha = np.full(cells.shape, 255, dtype=np.uint8)
        else:
            known = cells != UNKNOWN
            level = np.where(known, np.minimum(cells, 100), 0).astype(np.float64)
            shade = 245.0 - level * 2.0
            shade[~known] = 200.0
            alpha = np.where(known, 255, 90).astype(np.uint8)
        grey = np.clip(shade, 0, 255).astype(np.uint8)
        rgba = np.dstack([grey, grey, grey, alpha])
        out = io.BytesIO()
        Image.fromarray(rgba, 'RGBA').save(out, format='PNG', optimize=True)
        return out.getvalue()

    def to_json(self) -> dict[str, Any]:
        """Return the grid for the HTTP API: geometry plus the display PNG (base64)."""
        x_min, y_min, x_max, y_max = self.bounds()
        return {'width': self.width, 'height': self.height, 'resolution': self.resolution,
                'origin': {'x': self.origin_x, 'y': self.origin_y},
                'bounds': {'x_min': x_min, 'y_min': y_min, 'x_max': x_max, 'y_max': y_max},
                'mode': self.mode, 'image_png': base64.b64encode(self.png()).decode('ascii')}


def _thresholds(r: ConfigReader, root: dict[str, Any]) -> tuple[float, float]:
    occupied = r.number(root.get('occupied_thresh'), 'occupied_thresh', minimum=0)
    free = r.number(root.get('free_thresh'), 'free_thresh', minimum=0)
    if occupied > 1:
        raise r.fail('occupied_thresh', f'must be at most 1, got {occupied!r}')
    if free >= occupied:
        raise r.fail('free_thresh', f'must be below occupied_thresh ({occupied:g}), '
                     f'got {free!r}')
    return occupied, free


def _origin(r: ConfigReader, value: Any) -> tuple[float, float]:
    items = r.seq(value, 'origin', required=True)
    if len(items) != 3:
        raise r.fail('origin', f'must be [x, y, yaw], got {len(items)} values')
    x, y, yaw = (r.number(v, f'origin[{i}]') for i, v in enumerate(items))
    if abs(yaw) > 1e-9:
        raise r.fail('origin[2]', f'a rotated map (yaw {yaw:g}) is not supported; '
                     'use yaw 0')
    return x, y


def _negate(r: ConfigReader, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise r.fail('negate', f'must be 0 or 1, got {value!r}')


def _read_image(r: ConfigReader, path: pathlib.Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except FileNotFoundError:
        raise r.fail('image', f'{path}: file not found') from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise r.fail('image', f'{path}: not an image Pillow can read ({exc})') from None


def _classify(img: Image.Image, mode: str, negate: bool, occupied: float,
              free: float) -> np.ndarray:
    """Return the cells (uint8, top row first) of ``img`` as map_server reads them."""
    has_alpha = img.mode in ('LA', 'RGBA', 'PA') or 'transparency' in img.info
    rgba = np.asarray(img.convert('RGBA'), dtype=np.float64)
    # map_server averages the colour channels (not a luma weighting).
    value = rgba[..., :3].mean(axis=2) if img.mode not in ('L', 'LA', 'I', 'P') \
        else np.asarray(img.convert('L'), dtype=np.float64)
    if mode == 'raw':
        return np.clip(np.rint(value), 0, 254).astype(np.uint8)
    p = value / 255.0 if negate else (255.0 - value) / 255.0
    cells = np.full(value.shape, UNKNOWN, dtype=np.uint8)
    if mode == 'scale':
        between = np.rint(99.0 * (p - free) / (occupied - free))
        cells = np.clip(between, 0, 99).astype(np.uint8)
    cells[p > occupied] = OCCUPIED
    cells[p < free] = FREE
    if mode == 'scale' and has_alpha:
        cells[rgba[..., 3] < 255] = UNKNOWN
    return cells


def load_occupancy(path: str | os.PathLike[str]) -> OccupancyGrid:
    """Load a map_server map: ``path`` is its YAML file; raise ConfigError naming the file
    and the key on any problem (a missing image names ``image``)."""
    file = pathlib.Path(path)
    r = ConfigReader(file)
    root = r.root(read_yaml(file))
    r.unknown_keys(root, {'image', 'resolution', 'origin', 'negate', 'occupied_thresh',
                          'free_thresh', 'mode'}, '')
    image = r.string(root.get('image'), 'image', required=True)
    resolution = r.positive(root.get('resolution'), 'resolution')
    origin_x, origin_y = _origin(r, root.get('origin'))
    negate = _negate(r, root.get('negate'))
    mode = r.string(root.get('mode'), 'mode') or 'trinary'
    if mode not in MODES:
        raise r.fail('mode', f'must be one of {", ".join(MODES)}, got {mode!r}')
    occupied, free = _thresholds(r, root)
    image_path = pathlib.Path(image)
    if not image_path.is_absolute():
        image_path = file.parent / image_path
    img = _read_image(r, image_path)
    if img.width * img.height > MAX_CELLS:
        raise r.fail('image', f'{image_path}: {img.width} x {img.height} pixels is more than '
                     f'{MAX_CELLS:,} cells')
    cells = _classify(img, mode, negate, occupied, free)
    return OccupancyGrid(img.width, img.height, resolution, origin_x, origin_y,
                         cells.tobytes(), mode, str(file))


def load_occupancy_for(r: ConfigReader, value: Any, key: str,
                       base: pathlib.Path) -> OccupancyGrid | None:
    """Load the grid a fleet config names at ``key`` (a path relative to ``base``, the
    fleet config's folder); None when not set. Its errors name the fleet config's key and
    the map file's."""
    name = r.string(value, key)
    if not name:
        return None
    path = pathlib.Path(name)
    if not path.is_absolute():
        path = base / path
    try:
        return load_occupancy(path)
    except ConfigError as exc:
        raise r.fail(key, str(exc)) from None


def _bounds(fleet: FleetConfig) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for a in fleet.areas:
        xs += [a.x_min, a.x_max]
        ys += [a.y_min, a.y_max]
    for d in fleet.docks.values():
        xs.append(d.x)
        ys.append(d.y)
    if fleet.occupancy is not None:
        x0, y0, x1, y1 = fleet.occupancy.bounds()
        xs += [x0, x1]
        ys += [y0, y1]
    if not xs:
        return DEFAULT_BOUNDS
    return min(xs), min(ys), max(xs), max(ys)


def site_map(fleet: FleetConfig) -> dict[str, Any]:
    """Return the site map the dashboard draws: site, frame, bounds, areas (each with its
    ``kind``: ``aisle`` for names starting with ``aisle``, else ``area``), docks and the
    occupancy grid (None when the fleet config names none)."""
    x_min, y_min, x_max, y_max = _bounds(fleet)
    return {
        'site': fleet.site, 'frame_id': fleet.frame_id,
        'bounds': {'x_min': x_min, 'y_min': y_min, 'x_max': x_max, 'y_max': y_max},
        'areas': [{'name': a.name, 'kind': 'aisle' if a.name.startswith('aisle') else 'area',
                   'x_min': a.x_min, 'y_min': a.y_min, 'x_max': a.x_max, 'y_max': a.y_max}
                  for a in fleet.areas],
        'docks': [{'name': name, 'x': d.x, 'y': d.y, 'theta': d.theta}
                  for name, d in sorted(fleet.docks.items())],
        'occupancy': fleet.occupancy.to_json() if fleet.occupancy is not None else None,
    }
