"""Seeded modelled personal names; the lists are common characters, not real people."""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["modelled_names"]

# Surnames frequent in southern Fujian, with rough relative weights so the mix
# looks plausible (林/陈/黄 dominate in Zhangzhou; 蓝/钟 are common among the She).
_SURNAMES: Final[tuple[tuple[str, float], ...]] = (
    ("林", 9.0), ("陈", 9.0), ("黄", 6.0), ("郑", 4.0), ("吴", 4.0), ("王", 3.5),
    ("李", 3.5), ("张", 3.5), ("蔡", 3.0), ("杨", 3.0), ("许", 2.5), ("刘", 2.5),
    ("曾", 2.0), ("洪", 2.0), ("庄", 2.0), ("苏", 2.0), ("叶", 1.5), ("谢", 1.5),
    ("沈", 1.5), ("戴", 1.2), ("卢", 1.2), ("何", 1.2), ("周", 1.2), ("游", 1.0),
    ("邱", 1.0), ("江", 1.0), ("柯", 1.0), ("杜", 0.8), ("郭", 1.2), ("韩", 0.6),
    ("汤", 0.6), ("蓝", 0.8), ("钟", 0.8), ("朱", 0.8), ("方", 0.8), ("徐", 0.8),
    ("施", 0.6), ("高", 0.8), ("赖", 0.7), ("詹", 0.6), ("涂", 0.5), ("魏", 0.5),
)  # fmt: skip

_GIVEN: Final = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志文"
    "春海燕玲婷辉鹏雪梅晓红俊宏丹荣新慧颖鑫斌宇浩凯晨琳瑜欣怡佳"
    "振德贵福源清水金木坤龙凤秋菊炳耀锦宗泽育添如雅"
)


def modelled_names(rng: np.random.Generator, n: int) -> list[str]:
    """Draw ``n`` modelled Chinese names (surname + one or two given characters)."""
    surnames = np.array([s for s, _ in _SURNAMES])
    weights = np.array([w for _, w in _SURNAMES])
    given = np.array(list(_GIVEN))
    sur = rng.choice(surnames, size=n, p=weights / weights.sum())
    first = rng.choice(given, size=n)
    second = rng.choice(given, size=n)
    # About a quarter of people have a single-character given name.
    single = rng.random(n) < 0.25
    second = np.where(single, "", second)
    return [
        a + b + c for a, b, c in zip(sur.tolist(), first.tolist(), second.tolist(), strict=True)
    ]
