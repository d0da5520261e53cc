"""fleet_common.config: reading files names the file and where; accessors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet_common.config import ConfigError, ConfigReader, read_yaml


def write(tmp_path: Path, data: bytes, name: str = 'fleet.yaml') -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert info.value.file == str(path) and str(info.value).startswith(f'{path}: ')
    return info.value


def test_reads_a_mapping_and_an_empty_file(tmp_path: Path) -> None:
    assert read_yaml(write(tmp_path, b'site: a\nrobots: [{id: r1}]\n')) == {
        'site': 'a', 'robots': [{'id': 'r1'}]}
    assert read_yaml(write(tmp_path, b'')) is None


def test_invalid_utf8_is_named_with_line_column_and_byte(tmp_path: Path) -> None:
    # line 3 is '  - id: caf' + a valid two-byte e-acute (12 characters), then the bad byte
    path = write(tmp_path, b'site: a\nrobots:\n  - id: caf\xc3\xa9\xff\n')
    error = read_error(path)
    assert (error.line, error.column) == (3, 13)
    assert error.key == 'line 3, column 13'
    assert 'not valid UTF-8' in error.reason and 'byte 0xff at offset 29' in error.reason
    assert f'{path}: line 3, column 13: cannot read: not valid UTF-8' in str(error)


def test_latin1_file_is_not_taken_for_utf8(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, 'title: Störung\n'.encode('latin-1')))
    assert (error.line, error.column) == (1, 10) and 'not valid UTF-8' in str(error)


@pytest.mark.parametrize('text, line, column, words', [
    # an unclosed flow sequence: the parser fails where the next key starts
    (b'slos:\n  - name: a\n    sli: [mission_success\n    objective: 0.9\n', 4, 14,
     "expected ',' or ']'"),
    (b'slos:\n  - name: a\n\tsli: x\n', 3, 1, 'cannot start any token'),  # a tab indent
    (b'a: 1\nb: [1, 2\n', 3, 1, "expected ',' or ']'"),
    (b'a: x\x00y\n', 1, 5, 'U+0000 is not allowed'),
])
def test_yaml_syntax_errors_name_line_and_column(tmp_path: Path, text: bytes, line: int,
                                                 column: int, words: str) -> None:
    path = write(tmp_path, text)
    error = read_error(path)
    assert (error.line, error.column, error.key) == (line, column,
                                                     f'line {line}, column {column}')
    assert str(error).startswith(f'{path}: line {line}, column {column}: invalid YAML: ')
    assert words in str(error)


def test_duplicate_keys_are_errors_with_both_lines(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b'site: a\nmap:\n  frame_id: map\n  frame_id: odom\n'))
    assert (error.line, error.column) == (4, 3)
    assert "duplicate key 'frame_id' (first at line 3)" in str(error)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    error = read_error(tmp_path / 'absent.yaml')
    assert error.key == '' and error.reason == 'cannot read: file not found'
    assert 'cannot read' in str(read_error(tmp_path))  # a directory


def test_accessors_name_file_and_key_path() -> None:
    r = ConfigReader('config/fleet.yaml')
    with pytest.raises(ConfigError) as info:
        r.string(7, 'robots[2].dock')
    assert str(info.value) == "config/fleet.yaml: robots[2].dock: must be a string, got integer 7"
    assert (info.value.file, info.value.key) == ('config/fleet.yaml', 'robots[2].dock')
    cases = [
        (lambda: r.mapping([1], 'map'), 'map', 'must be a mapping, got list'),
        (lambda: r.seq({'a': 1}, 'robots'), 'robots', 'must be a list, got mapping'),
        (lambda: r.number('x', 'a.b'), 'a.b', "must be a number, got string 'x'"),
        (lambda: r.number(True, 'a.b'), 'a.b', 'must be a number, got boolean True'),
        (lambda: r.number(float('inf'), 'a.b'), 'a.b', 'must be finite'),
        (lambda: r.number(0, 'rate', above=0), 'rate', 'must be greater than 0, got 0'),
        (lambda: r.number(0.5, 'burst', minimum=1), 'burst', 'must be at least 1, got 0.5'),
        (lambda: r.integer(1.0, 'n'), 'n', 'must be an integer, got number 1.0'),
        (lambda: r.integer(None, 'n'), 'n', 'is required (must be an integer)'),
        (lambda: r.string('  ', 'name', required=True), 'name', 'must not be empty'),
        (lambda: r.boolean('yes', 'on'), 'on', "must be true or false, got 'yes'"),
        (lambda: r.unknown_keys({'windw': 1}, {'window'}, 'rules[0]'), 'rules[0].windw',
         'unknown key (expected one of: window)'),
        (lambda: r.keys({}, 'slos[0]', ('name', 'sli')), 'slos[0].name', 'is required'),
        (lambda: r.convert('x', 'when.hours', int), 'when.hours', 'invalid literal'),
        (lambda: r.root(None), '', 'file is empty'),
    ]
    for call, key, words in cases:
        with pytest.raises(ConfigError) as info:
            call()
        assert info.value.key == key, words
        assert words in info.value.reason and str(info.value).startswith('config/fleet.yaml: ')


def test_accessors_return_checked_values() -> None:
    r = ConfigReader('f.yaml')
    assert r.mapping(None, 'm') == {} and r.seq(None, 's') == [] and r.string(None, 's') == ''
    assert r.number(3, 'n') == 3.0 and isinstance(r.number(3, 'n'), float)
    assert r.strings('a', 'k') == ('a',) and r.strings(['a', 'b'], 'k') == ('a', 'b')
    assert r.boolean(None, 'b', default=True) is True
    assert r.single_key({'notify': 'ops'}, 'a', 'action') == ('notify', 'ops')
    assert r.convert('12', 'k', int) == 12
    assert r.root(None, allow_empty=True) == {}
