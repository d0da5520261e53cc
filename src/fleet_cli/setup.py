from setuptools import find_packages, setup

PACKAGE = 'fleet_cli'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        # For `ros2 run fleet_cli fleetctl`, which looks in lib/<package>; the console
        # script below goes to bin/, which the sourced workspace puts on PATH.
        (f'lib/{PACKAGE}', ['scripts/fleetctl']),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Fleet operations team',
    maintainer_email='fleet@example.com',
    description='fleetctl: the command line client of the fleet HTTP API.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'fleetctl = fleet_cli.main:main',
        ],
    },
)
