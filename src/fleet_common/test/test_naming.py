"""Natural sort order of robot ids."""

from __future__ import annotations

import random

from fleet_common.naming import natural_key


def test_thirty_robots_sort_as_people_count() -> None:
    ids = [f'robot{i}' for i in range(1, 31)]
    shuffled = random.Random(7).sample(ids, len(ids))
    assert sorted(shuffled) != ids  # plain string order puts robot10 before robot2
    assert sorted(shuffled, key=natural_key) == ids


def test_mixed_names_have_a_total_order() -> None:
    names = ['amr-10b', 'amr-2', 'AMR-2', 'amr-10a', 'dock', '7', 'amr-02']
    assert sorted(names, key=natural_key) == ['7', 'AMR-2', 'amr-02', 'amr-2', 'amr-10a',
                                              'amr-10b', 'dock']
