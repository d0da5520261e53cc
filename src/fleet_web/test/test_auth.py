"""Tests of fleet_web.auth: bearer tokens, scopes, hash-only storage, config errors, CLI."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from fleet_web.auth import KeyStore, Principal, Scope, hash_token
from fleet_web.errors import ConfigError

pytestmark = pytest.mark.timeout(60)

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]
WEB_YAML = PACKAGE_ROOT.parent / 'fleet_bringup' / 'config' / 'web.yaml'

READER_TOKEN = 'reader-token-7f3a9c1e5b'
OPS_TOKEN = 'ops-token-2d8e4f6a0c'
ADMIN_TOKEN = 'admin-token-9b1c3d5e7f'
ENV = {'FLEET_OPS_TOKEN': OPS_TOKEN, 'FLEET_TOKEN': ADMIN_TOKEN}


@pytest.fixture
def keystore() -> KeyStore:
    section = [
        {'name': 'reader', 'token_sha256': hash_token(READER_TOKEN).upper(), 'scopes': ['read']},
        {'name': 'ops', 'token_env': 'FLEET_OPS_TOKEN',
         'scopes': ['read', 'missions:write']},
    ]
    return KeyStore.from_config(section, file='web.yaml', env=ENV)


def test_hash_token_is_sha256_hex():
    assert hash_token('abc') == hashlib.sha256(b'abc').hexdigest()
    assert hash_token('abc') == (
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')


def test_authenticate_bearer_tokens(keystore):
    assert keystore.names() == ['reader', 'ops', 'env:FLEET_TOKEN']
    assert keystore.authenticate(f'Bearer {READER_TOKEN}').name == 'reader'
    assert keystore.authenticate(f'bearer   {OPS_TOKEN} ').name == 'ops'
    assert keystore.authenticate(f'Bearer {ADMIN_TOKEN}').name == 'env:FLEET_TOKEN'


@pytest.mark.parametrize('header', [
    None, '', 'Bearer', 'Bearer ', f'Basic {READER_TOKEN}', READER_TOKEN,
    f'Bearer {READER_TOKEN}x', f'Bearer {READER_TOKEN[:-1]}', 'Bearer wrong-token',
    f'Bearer {READER_TOKEN} extra', f'Bearer {hash_token(READER_TOKEN)}',
])
def test_wrong_or_missing_token_is_refused(keystore, header):
    assert keystore.authenticate(header) is None


def test_scopes_and_admin_implies_all(keystore):
    reader = keystore.authenticate(f'Bearer {READER_TOKEN}')
    assert reader.allows('read') and reader.allows(Scope.READ)
    assert not reader.allows('missions:write')
    assert not reader.allows(Scope.INCIDENTS_WRITE)
    assert not reader.allows('admin')
    ops = keystore.authenticate(f'Bearer {OPS_TOKEN}')
    assert ops.allows('missions:write') and not ops.allows('incidents:write')
    admin = keystore.authenticate(f'Bearer {ADMIN_TOKEN}')
    assert all(admin.allows(scope) for scope in Scope)
    with pytest.raises(ValueError, match='unknown scope'):
        admin.allows('missions:wirte')
    assert Principal('p', frozenset({Scope.ADMIN})).allows('incidents:write')


def test_only_hashes_are_kept(keystore):
    dumped = repr(vars(keystore)) + repr(keystore) + str(keystore)
    for token in (READER_TOKEN, OPS_TOKEN, ADMIN_TOKEN):
        assert token not in dumped
    assert 'reader[read]' in repr(keystore)
    stored = {digest for digest, _ in keystore._entries}
    assert hashlib.sha256(OPS_TOKEN.encode()).digest() in stored
    assert len(stored) == len(keystore) == 3


def test_fleet_token_is_optional():
    assert len(KeyStore.from_config(None, file='f', env={})) == 0
    only_env = KeyStore.from_config([], file='f', env={'FLEET_TOKEN': ADMIN_TOKEN},
                                    include_env_token=False)
    assert only_env.authenticate(f'Bearer {ADMIN_TOKEN}') is None


def test_shipped_web_yaml_api_keys_section():
    from fleet_web.webhooks import read_config_file
    section = read_config_file(WEB_YAML)['api_keys']
    keystore = KeyStore.from_config(section, file=str(WEB_YAML), env={'FLEET_TOKEN': 't0k'})
    assert keystore.names() == ['env:FLEET_TOKEN']


GOOD_HASH = hash_token('x')


@pytest.mark.parametrize('section,key,words', [
    ({'name': 'a'}, 'api_keys', 'must be a list'),
    ([['a']], 'api_keys[0]', 'mapping'),
    ([{'token_sha256': GOOD_HASH, 'scopes': ['read']}], 'api_keys[0].name', 'required'),
    ([{'name': 'a', 'scopes': ['read']}], 'api_keys[0]', 'exactly one'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'token_env': 'V', 'scopes': ['read']}],
     'api_keys[0]', 'exactly one'),
    ([{'name': 'a', 'token_sha256': 'abc', 'scopes': ['read']}], 'api_keys[0].token_sha256',
     '64 hex'),
    ([{'name': 'a', 'token_env': 'UNSET_VAR', 'scopes': ['read']}], 'api_keys[0].token_env',
     'UNSET_VAR'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'scopes': ['write']}], 'api_keys[0].scopes',
     'unknown scope'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'scopes': []}], 'api_keys[0].scopes',
     'non-empty'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'scopes': ['read'], 'token': 'x'}],
     'api_keys[0].token', 'unknown key'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'scopes': ['read']},
      {'name': 'a', 'token_sha256': hash_token('y'), 'scopes': ['read']}],
     'api_keys[1].name', 'duplicate'),
    ([{'name': 'a', 'token_sha256': GOOD_HASH, 'scopes': ['read']},
      {'name': 'b', 'token_sha256': GOOD_HASH.upper(), 'scopes': ['read']}],
     'api_keys[1]', 'same token'),
])
def test_config_errors_name_file_and_key(section, key, words):
    with pytest.raises(ConfigError) as caught:
        KeyStore.from_config(section, file='config/web.yaml', env={})
    error = caught.value
    assert (error.file, error.key) == ('config/web.yaml', key)
    assert str(error).startswith(f'config/web.yaml: {key}: ') and words in str(error)


def test_config_error_never_shows_the_token():
    with pytest.raises(ConfigError) as caught:
        KeyStore.from_config([{'name': 'a', 'token_env': 'T', 'scopes': ['bogus']}],
                             file='f', env={'T': 'very-secret-token'})
    assert 'very-secret-token' not in str(caught.value)


def test_hash_token_command_reads_stdin():
    env = {**os.environ, 'PYTHONPATH': str(PACKAGE_ROOT)}
    done = subprocess.run([sys.executable, '-m', 'fleet_web.auth', 'hash-token'],
                          input='s3cret-token\n', capture_output=True, text=True, env=env,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hash_token('s3cret-token')
    assert 's3cret-token' not in done.stdout
    empty = subprocess.run([sys.executable, '-m', 'fleet_web.auth', 'hash-token'],
                           input='\n', capture_output=True, text=True, env=env, timeout=30,
                           check=False)
    assert empty.returncode == 2 and 'empty' in empty.stderr
