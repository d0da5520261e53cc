import glob
import os

from setuptools import setup

PACKAGE = 'fleet_bringup'
HERE = os.path.dirname(os.path.abspath(__file__))


def files(pattern: str) -> list:
    """Return this package's files matching ``pattern``, relative to the package."""
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern))
                  if os.path.isfile(p))


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=[],
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', files('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', files('config/*')),
        (f'share/{PACKAGE}/config/runbooks', files('config/runbooks/*')),
        (f'share/{PACKAGE}/config/desired', files('config/desired/*')),
        (f'share/{PACKAGE}/config/maps', files('config/maps/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Fleet operations team',
    maintainer_email='fleet@example.com',
    description='Launch files and the shipped configuration of the fleet operations suite.',
    license='Apache-2.0',
)
