"""The site map: map_server YAML + PGM reading, the world <-> pixel transform, the map the
dashboard draws, and errors naming the file and the key. Pure and fast (no ROS)."""

import base64
import io
import pathlib

import numpy as np
from PIL import Image
import pytest

from fleet_common.config import ConfigError
from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.site_map import FREE, OCCUPIED, UNKNOWN, load_occupancy, site_map

SHIPPED = pathlib.Path(__file__).resolve().parents[2] / 'fleet_bringup' / 'config'
YAML = """image: {image}
resolution: {resolution}
origin: [{ox}, {oy}, 0.0]
negate: {negate}
occupied_thresh: 0.65
free_thresh: 0.196
{extra}"""


def write_map(tmp_path: pathlib.Path, pixels: list[list[int]], *, resolution: float = 0.5,
              ox: float = -1.0, oy: float = 2.0, negate: int = 0, extra: str = '',
              image: str = 'm.pgm') -> pathlib.Path:
    """A map_server pair: ``pixels`` (rows from the top) as a binary PGM, and its YAML."""
    Image.fromarray(np.array(pixels, dtype=np.uint8), 'L').save(tmp_path / 'm.pgm')
    path = tmp_path / 'm.yaml'
    path.write_text(YAML.format(image=image, resolution=resolution, ox=ox, oy=oy,
                                negate=negate, extra=extra))
    return path


def test_pgm_is_read_as_map_server_reads_it(tmp_path: pathlib.Path) -> None:
    # Row 0 is the top of the map. 0 = black = occupied, 254 = free, 205 = unknown.
    grid = load_occupancy(write_map(tmp_path, [[0, 254, 205], [254, 254, 0]]))
    assert (grid.width, grid.height, grid.resolution) == (3, 2, 0.5)
    assert list(grid.cells) == [OCCUPIED, FREE, UNKNOWN, FREE, FREE, OCCUPIED]
    # origin is the lower-left corner: the bottom row spans y in [2.0, 2.5).
    assert grid.cell_at(-0.9, 2.1) == FREE          # bottom-left
    assert grid.cell_at(0.1, 2.1) == OCCUPIED       # bottom-right
    assert grid.cell_at(-0.9, 2.6) == OCCUPIED      # top-left
    assert grid.cell_at(0.1, 2.6) == UNKNOWN        # top-right
    assert grid.cell_at(-1.1, 2.1) is None and grid.cell_at(0.0, 3.01) is None
    assert grid.bounds() == (-1.0, 2.0, 0.5, 3.0)


def test_negate_swaps_free_and_occupied(tmp_path: pathlib.Path) -> None:
    grid = load_occupancy(write_map(tmp_path, [[0, 254]], negate=1))
    assert list(grid.cells) == [FREE, OCCUPIED]


def test_scale_mode_keeps_values_in_between(tmp_path: pathlib.Path) -> None:
    grid = load_occupancy(write_map(tmp_path, [[0, 128, 254]], extra='mode: scale\n'))
    assert grid.cells[0] == OCCUPIED and grid.cells[2] == FREE
    assert 0 < grid.cells[1] < 100


@pytest.mark.parametrize('x, y', [(-1.0, 2.0), (0.3, 2.7), (12.25, -4.5)])
def test_world_pixel_round_trip(tmp_path: pathlib.Path, x: float, y: float) -> None:
    grid = load_occupancy(write_map(tmp_path, [[254] * 4] * 3))
    col, row = grid.world_to_pixel(x, y)
    assert grid.pixel_to_world(col, row) == pytest.approx((x, y))
    assert grid.world_to_pixel(-1.0, 2.0) == (0.0, 3.0)  # the image's bottom-left corner
    assert grid.pixel_to_world(0, 0) == pytest.approx((-1.0, 3.5))  # its top-left corner


def test_display_png_has_the_grid_size_and_dark_obstacles(tmp_path: pathlib.Path) -> None:
    grid = load_occupancy(write_map(tmp_path, [[0, 254, 205]]))
    data = grid.to_json()
    img = Image.open(io.BytesIO(base64.b64decode(data['image_png'])))
    assert img.size == (3, 1) and img.mode == 'RGBA'
    occupied, free, unknown = (img.getpixel((i, 0)) for i in range(3))
    assert occupied[0] < 50 < free[0] and occupied[3] == free[3] == 255 > unknown[3]
    assert data['bounds'] == {'x_min': -1.0, 'y_min': 2.0, 'x_max': 0.5, 'y_max': 2.5}


@pytest.mark.parametrize('extra, key', [
    ('mode: fancy\n', 'mode'),
    ('colour: red\n', 'colour'),
])
def test_bad_map_yaml_names_file_and_key(tmp_path: pathlib.Path, extra: str, key: str) -> None:
    path = write_map(tmp_path, [[0]], extra=extra)
    with pytest.raises(ConfigError) as err:
        load_occupancy(path)
    assert err.value.file == str(path) and err.value.key == key


@pytest.mark.parametrize('field, value, key', [
    ('resolution', '0', 'resolution'),
    ('origin', '[1, 2]', 'origin'),
    ('origin', '[1, 2, 0.5]', 'origin[2]'),
    ('negate', '2', 'negate'),
    ('free_thresh', '0.9', 'free_thresh'),
    ('occupied_thresh', '1.5', 'occupied_thresh'),
    ('image', 'missing.pgm', 'image'),
])
def test_bad_values_name_the_key(tmp_path: pathlib.Path, field: str, value: str,
                                 key: str) -> None:
    path = write_map(tmp_path, [[0]])
    lines = [f'{field}: {value}' if line.startswith(f'{field}:') else line
             for line in path.read_text().splitlines()]
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConfigError) as err:
        load_occupancy(path)
    assert err.value.key == key, str(err.value)


def test_an_image_pillow_cannot_read_is_refused(tmp_path: pathlib.Path) -> None:
    path = write_map(tmp_path, [[0]])
    (tmp_path / 'm.pgm').write_bytes(b'P5 not really')
    with pytest.raises(ConfigError, match='not an image'):
        load_occupancy(path)


def test_fleet_config_names_its_key_and_the_map_files(tmp_path: pathlib.Path) -> None:
    write_map(tmp_path, [[0]], extra='mode: fancy\n')
    fleet = tmp_path / 'fleet.yaml'
    fleet.write_text('site: s\nmap:\n  occupancy: m.yaml\n')
    with pytest.raises(ConfigError) as err:
        load_fleet_config(fleet)
    assert err.value.file == str(fleet) and err.value.key == 'map.occupancy'
    assert 'm.yaml: mode: must be one of' in str(err.value)


def test_shipped_site_map() -> None:
    fleet = load_fleet_config(SHIPPED / 'fleet.yaml')
    data = site_map(fleet)
    assert data['site'] == 'demo-warehouse'
    assert data['bounds'] == {'x_min': 0.0, 'y_min': 0.0, 'x_max': 30.0, 'y_max': 20.0}
    kinds = {a['name']: a['kind'] for a in data['areas']}
    assert kinds['aisle_a'] == 'aisle' and kinds['packing'] == 'area'
    assert [d['name'] for d in data['docks']][:2] == ['dock_1', 'dock_2']
    grid = fleet.occupancy
    assert grid is not None and data['occupancy']['width'] == grid.width == 300
    # The racks between the aisles are obstacles; the aisles and the docks are free.
    assert grid.cell_at(9.0, 10.0) == OCCUPIED
    assert grid.cell_at(6.0, 10.0) == FREE and grid.cell_at(2.0, 1.0) == FREE


def test_no_occupancy_and_no_areas() -> None:
    from fleet_manager.core.config import FleetConfig
    data = site_map(FleetConfig())
    assert data['occupancy'] is None and data['areas'] == [] and data['docks'] == []
    assert data['bounds']['x_max'] > data['bounds']['x_min']
