from setuptools import find_packages, setup

PACKAGE = 'fleet_manager'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
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
