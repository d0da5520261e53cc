#!/usr/bin/env python3
"""A bare aiohttp server answering GET /api/v1/robots with a fixed JSON body.

The reference for bench_robots_api.py: the same body the real bridge returned (captured from
it), served by a plain aiohttp handler without middlewares, ROS or serialisation
(``--mode static``, the default), or re-serialised from the parsed body on every request
(``--mode dumps``, like ``json_response`` does in the bridge).

    python bench/bare_server.py --port 8099 --body-file robots.json [--mode static|dumps]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--body-file', required=True, help='JSON body to serve')
    p.add_argument('--mode', choices=('static', 'dumps'), default='static',
                   help='serve the bytes as they are, or json.dumps the parsed body per '
                        'request (default: %(default)s)')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from aiohttp import web
    raw = pathlib.Path(args.body_file).read_bytes()
    parsed = json.loads(raw)

    if args.mode == 'static':
        async def robots(request: web.Request) -> web.Response:
            return web.Response(body=raw, content_type='application/json')
    else:
        async def robots(request: web.Request) -> web.Response:
            return web.json_response(parsed, dumps=lambda d: json.dumps(d, separators=(',', ':')))

    app = web.Application()
    app.router.add_get('/api/v1/robots', robots)
    # run_app stops cleanly on SIGINT and SIGTERM.
    web.run_app(app, host=args.host, port=args.port, access_log=None,
                print=lambda *_: print(f'bare_server: serving http://{args.host}:{args.port}/',
                                       flush=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
