"""The OpenAPI path and schemas of the site map (merged into
:func:`fleet_web.openapi.document`)."""

from __future__ import annotations

from typing import Any

from fleet_web.openapi import _error, _json, _op, _ref

_NUM = {'type': 'number'}
_BOUNDS = {'type': 'object', 'required': ['x_min', 'y_min', 'x_max', 'y_max'],
           'properties': {k: _NUM for k in ('x_min', 'y_min', 'x_max', 'y_max')},
           'description': 'm, in the map frame'}

SITE_SCHEMAS: dict[str, Any] = {
    'SiteArea': {
        'type': 'object', 'required': ['name', 'kind', 'x_min', 'y_min', 'x_max', 'y_max'],
        'properties': {'name': {'type': 'string'},
                       'kind': {'type': 'string', 'enum': ['aisle', 'area'],
                                'description': 'aisle: a name starting with "aisle"'},
                       **{k: _NUM for k in ('x_min', 'y_min', 'x_max', 'y_max')}}},
    'SiteDock': {
        'type': 'object', 'required': ['name', 'x', 'y', 'theta'],
        'properties': {'name': {'type': 'string'}, 'x': _NUM, 'y': _NUM, 'theta': _NUM}},
    'OccupancyGrid': {
        'type': 'object',
        'required': ['width', 'height', 'resolution', 'origin', 'bounds', 'mode', 'image_png'],
        'description': 'A Nav2 map_server map (map.occupancy in fleet.yaml) as read by the '
                      'manager: cells classified with its thresholds, drawn as a PNG.',
        'properties': {
            'width': {'type': 'integer', 'minimum': 1}, 'height': {'type': 'integer',
                                                                   'minimum': 1},
            'resolution': {'type': 'number', 'description': 'm per cell'},
            'origin': {'type': 'object', 'required': ['x', 'y'],
                       'properties': {'x': _NUM, 'y': _NUM},
                       'description': 'the lower-left corner of the image, m'},
            'bounds': _BOUNDS,
            'mode': {'type': 'string', 'enum': ['trinary', 'scale', 'raw']},
            'image_png': {'type': 'string', 'contentEncoding': 'base64',
                          'description': 'RGBA PNG, row 0 at the top (the largest y): '
                                         'occupied dark, free light, unknown translucent'}}},
    'SiteMap': {
        'type': 'object',
        'required': ['site', 'frame_id', 'bounds', 'areas', 'docks', 'occupancy'],
        'properties': {
            'site': {'type': 'string'}, 'frame_id': {'type': 'string'}, 'bounds': _BOUNDS,
            'areas': {'type': 'array', 'items': _ref('SiteArea')},
            'docks': {'type': 'array', 'items': _ref('SiteDock')},
            'occupancy': {'oneOf': [_ref('OccupancyGrid'), {'type': 'null'}]}}},
}


def site_paths() -> dict[str, Any]:
    """The site map."""
    return {
        '/api/v1/site/map': {'get': _op('The site map', 'read', {
            '200': _json('areas, aisles, docks and the occupancy grid of the fleet config '
                         'the manager runs with', _ref('SiteMap')),
            '503': _error('the manager is not reachable')})},
    }
