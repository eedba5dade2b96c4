"""Published genotypes, by name, so users can compare against them (`tnd train --genotype DARTS_V2`)."""

from __future__ import annotations

from typing import Any

from tnd.errors import TndError
from tnd.space.genotype import Genotype

_C = (2, 3, 4, 5)

PUBLISHED: dict[str, Genotype] = {
    # Liu et al., DARTS (ICLR 2019), second-order search on CIFAR-10.
    "DARTS_V2": Genotype(
        normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
        normal_concat=_C,
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
        reduce_concat=_C,
    ),
    # DARTS first-order.
    "DARTS_V1": Genotype(
        normal=(("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)),
        normal_concat=_C,
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)),
        reduce_concat=_C,
    ),
    # Chen et al., P-DARTS (ICCV 2019), CIFAR-10.
    "PDARTS": Genotype(
        normal=(("skip_connect", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("dil_conv_5x5", 4)),
        normal_concat=_C,
        reduce=(("avg_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
                ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("dil_conv_3x3", 1), ("sep_conv_5x5", 3)),
        reduce_concat=_C,
    ),
}


def published_genotype(name: str) -> Genotype:
    if name not in PUBLISHED:
        raise TndError(f"unknown published genotype {name!r}; choose one of {', '.join(PUBLISHED)}")
    return PUBLISHED[name]


def as_genotype(obj: Any) -> Genotype:
    """A published name (``DARTS_V2``), or anything ``Genotype.coerce`` reads (Genotype, dict, named tuple, text)."""
    return PUBLISHED[obj] if isinstance(obj, str) and obj in PUBLISHED else Genotype.coerce(obj)
