import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'fleet_manager'
HERE = os.path.dirname(os.path.abspath(__file__))
WS = os.path.normpath(os.path.join(HERE, '..', '..'))


def rel(paths: list) -> list:
    """Return paths relative to this package (setuptools refuses absolute data_files)."""
    return sorted(os.path.relpath(p, HERE) for p in paths)

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={PACKAGE: ['py.typed', 'static/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        # The workspace's launch/ and config/ are installed into fleet_manager's share so
        # that `ros2 launch fleet_manager fleet.launch.py` finds them.
        (f'share/{PACKAGE}/launch', rel(glob.glob(os.path.join(WS, 'launch', '*.launch.py')))),
        (f'share/{PACKAGE}/config', rel(
            glob.glob(os.path.join(WS, 'config', '*.yaml'))
            + glob.glob(os.path.join(WS, 'config', '*.json'))
            + glob.glob(os.path.join(WS, 'config', '*.rviz')))),
        (f'share/{PACKAGE}/config/runbooks',
         rel(glob.glob(os.path.join(WS, 'config', 'runbooks', '*')))),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Fleet operations team',
    maintainer_email='fleet@example.com',
    description=('The fleet manager: a lifecycle node that owns the registry, missions, incidents '
                 'and the event log.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'fleet_manager = fleet_manager.manager_node:main',
        ],
    },
)
