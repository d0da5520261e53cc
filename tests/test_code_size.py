"""The size rule of the developers' guide: no production class over 400 lines, no function
over 80 lines.

Every production module (``src/<package>/<package>/**/*.py``: not the tests, not the launch
files) is parsed with :mod:`ast`; a class or function (methods and nested functions too) is
measured from its ``class``/``def`` line to its last line, docstring and comments included.
"""

from __future__ import annotations

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80


def production_modules() -> list[pathlib.Path]:
    """Return every Python module of every package's import package under src/, sorted."""
    return sorted(path for pkg in (REPO / 'src').iterdir() if (pkg / pkg.name).is_dir()
                  for path in (pkg / pkg.name).rglob('*.py'))


def oversized(path: pathlib.Path, root: pathlib.Path = REPO) -> list[str]:
    """Return one line per class over MAX_CLASS_LINES and function over MAX_FUNCTION_LINES
    in ``path`` (named relative to ``root``)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    where = path.relative_to(root).as_posix()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            limit, what = MAX_CLASS_LINES, 'class'
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            limit, what = MAX_FUNCTION_LINES, 'function'
        else:
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > limit:
            out.append(f'{where}:{node.lineno}: {what} {node.name} has {lines} lines '
                       f'(at most {limit})')
    return out


def test_modules_are_found() -> None:
    modules = {p.relative_to(REPO).as_posix() for p in production_modules()}
    for expected in ('src/fleet_manager/fleet_manager/incident_flow.py',
                     'src/fleet_common/fleet_common/events.py',
                     'src/fleet_agent/fleet_agent/core.py',
                     'src/fleet_web/fleet_web/app.py',
                     'src/fleet_sim/fleet_sim/navigator.py',
                     'src/fleet_cli/fleet_cli/__init__.py'):
        assert expected in modules
    assert not any('/test/' in m or '/launch/' in m for m in modules), sorted(modules)


def test_measures_classes_and_functions(tmp_path: pathlib.Path) -> None:
    body = '\n'.join(f'        x{i} = {i}' for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / 'sample.py'
    sample.write_text(f'class Small:\n    def big(self) -> None:\n{body}\n'
                      f'    def fine(self) -> None:\n        pass\n', encoding='utf-8')
    assert oversized(sample, tmp_path) == [
        f'sample.py:2: function big has {MAX_FUNCTION_LINES + 1} lines '
        f'(at most {MAX_FUNCTION_LINES})']
    attrs = [f'    a{i} = {i}' for i in range(MAX_CLASS_LINES)]
    sample.write_text('class Big:\n' + '\n'.join(attrs) + '\n\n\nclass Fine:\n'
                      + '\n'.join(attrs[1:]) + '\n', encoding='utf-8')
    assert oversized(sample, tmp_path) == [
        f'sample.py:1: class Big has {MAX_CLASS_LINES + 1} lines (at most {MAX_CLASS_LINES})']


def test_no_class_or_function_over_the_limit() -> None:
    found = [line for path in production_modules() for line in oversized(path)]
    assert not found, 'over the size limit:\n' + '\n'.join(found)
