"""People's names for the simulated agents, so that a demo's wallboard and reports show
names, as a real centre's ACD file gives them (`name:` of an agent profile)."""

from __future__ import annotations

from collections.abc import Iterable

from cti.queues.models import AgentProfile

FIRST = (
    "Мария", "Георги", "Елена", "Иван", "Анна", "Димитър", "Петя", "Николай", "Десислава",
    "Стоян", "Виктория", "Александър", "Йорданка", "Христо", "Радослава", "Тодор", "Зорница",
    "Калин", "Силвия", "Борислав", "Гергана", "Пламен", "Ралица", "Васил", "Милена",
    "Емил", "Цветелина", "Любомир", "Надежда", "Красимир",
)  # fmt: skip
LAST = (
    "Иванова", "Петров", "Георгиева", "Димитров", "Николова", "Стоянов", "Христова",
    "Тодоров", "Ангелова", "Василев", "Маринова", "Колев", "Попова", "Илиев", "Йорданова",
    "Костов", "Михайлова", "Атанасов", "Русева", "Симеонов", "Павлова", "Антонов",
    "Кирилова", "Желев", "Янева", "Ненов", "Цанкова", "Братанов", "Денева", "Лазаров",
)  # fmt: skip


def person_name(i: int) -> str:
    """The i-th simulated person: a first name and a family name, all different for 30."""
    return f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}"


def named(profiles: Iterable[AgentProfile]) -> tuple[AgentProfile, ...]:
    """The profiles, each without a name given one."""
    return tuple(
        p if p.name else p.model_copy(update={"name": person_name(i)})
        for i, p in enumerate(profiles)
    )
