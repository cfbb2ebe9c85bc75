"""The indicator registry: the 67 indicators of catalogue §3, one module per dimension.

Registration is explicit: each dimension module lists its declarations in `DECLARED`, and this
module adds them to the one `REGISTRY`, which raises on a duplicate id or a malformed declaration.
"""

from indicators import assets, employment, expenditure, family_events, health_disability, income
from indicators.base import Registry

__all__ = ["REGISTRY"]

REGISTRY = Registry()
for _module in (income, assets, expenditure, health_disability, employment, family_events):
    for _declared in _module.DECLARED:
        REGISTRY.add(_declared)
