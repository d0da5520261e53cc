"""Error budget policy of rollouts: no rollout starts or advances while the budget is spent.

The policy names SLOs (``mission_success`` by default) and the least error budget that must
remain (``min_remaining``, a fraction of the budget: 0 means "not exhausted"; the SLO
engine's remaining budget goes negative once it is overspent). :meth:`BudgetPolicy.check`
takes the remaining budgets as they are now (from the SLO engine, see
:mod:`fleet_manager.core.slo`) and says whether a rollout may start or advance, and why
not. An SLO without a status yet (no evaluation so far) does not block.

Pure Python: no clock, no engine; the caller passes the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class BudgetVerdict:
    """Whether rollouts may start or advance now; ``reason`` says why not."""

    allowed: bool
    reason: str = ''


ALLOWED = BudgetVerdict(True)


@dataclass(frozen=True)
class BudgetPolicy:
    """The SLOs whose error budget gates rollouts, and the least budget that must remain."""

    slos: tuple[str, ...] = ('mission_success',)
    min_remaining: float = 0.0

    def check(self, remaining: Mapping[str, float | None]) -> BudgetVerdict:
        """Return the verdict for the remaining budgets (SLO name -> remaining fraction, or
        None while unknown)."""
        for name in self.slos:
            left = remaining.get(name)
            if left is not None and left <= self.min_remaining:
                return BudgetVerdict(False, f'the error budget of SLO {name} is exhausted '
                                            f'({left:.0%} left, at least '
                                            f'{self.min_remaining:.0%} must remain)')
        return ALLOWED
