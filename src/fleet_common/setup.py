from setuptools import find_packages, setup

PACKAGE = 'fleet_common'

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
    description=('What every fleet package shares: the event vocabulary, kind patterns, time '
                 'conversions, the configuration reader and small rclpy helpers.'),
    license='Apache-2.0',
)
