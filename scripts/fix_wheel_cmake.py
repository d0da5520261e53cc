"""Point the ROS 2 wheels' CMake export files at this interpreter.

The PyPI wheels of ROS 2 Jazzy were built in a container whose Python lives in
/opt/python/cp311-cp311. Their CMake export files name that include dir and
site-packages, so building any interface package against them fails with
"includes non-existent path". This rewrites those paths, in place, to the
running interpreter's, and prints how many files it changed. Running it again
changes nothing.
"""

import pathlib
import sys
import sysconfig

BUILD_PREFIX = '/opt/python/cp311-cp311'


def main() -> int:
    """Rewrite every .cmake file under <venv>/share that names the build container's Python."""
    venv = pathlib.Path(sys.prefix)
    include = sysconfig.get_paths()['include']
    purelib = sysconfig.get_paths()['purelib']
    replacements = {
        f'{BUILD_PREFIX}/include/python3.11': include,
        f'{BUILD_PREFIX}/lib/python3.11/site-packages': purelib,
    }
    changed = 0
    for path in (venv / 'share').rglob('*.cmake'):
        text = path.read_text(encoding='utf-8', errors='surrogateescape')
        if BUILD_PREFIX not in text:
            continue
        new = text
        for old, repl in replacements.items():
            new = new.replace(old, repl)
        if new != text:
            path.write_text(new, encoding='utf-8', errors='surrogateescape')
            changed += 1
    print(f'[setup] wheel CMake fix: {changed} file(s) rewritten to {include}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
