import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'fleet_web'
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
    (f'share/{PACKAGE}/static', rel(glob.glob(os.path.join(HERE, PACKAGE, 'static', '*')))),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Fleet operations team',
    maintainer_email='fleet@example.com',
    description=('The HTTP bridge to business systems and the operator dashboard (aiohttp), '
                 'talking to the manager over ROS.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'fleet_web = fleet_web.web_node:main',
        ],
    },
)
