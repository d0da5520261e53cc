import os

from setuptools import find_packages, setup

PACKAGE = 'fleet_sim'
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
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Fleet operations team',
    maintainer_email='fleet@example.com',
    description=('Simulated robots speaking the Nav2 interfaces, with fault injection, for the '
                 'demo, tests and benchmarks.'),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'fleet_demo = fleet_sim.demo:main',
            'fleet_feeder = fleet_sim.feeder:main',
            'fleet_sim = fleet_sim.fleet:main',
            'fleet_sim_base = fleet_sim.sim_node:main',
            'fleet_sim_install = fleet_sim.installer:main',
            'fleet_sim_nav2_params = fleet_sim.nav2_params:main',
        ],
    },
)
