"""How the validator reports: one line per invalid key, every line at once, in one SettingsError."""

from __future__ import annotations

from collections.abc import Sequence


class SettingsError(ValueError):
    """The stack config is invalid. ``problems`` holds one line per invalid key."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"invalid stack configuration ({len(self.problems)} problem(s)); nothing was created:\n{lines}"
        )


class Problems:
    """Collects the problems of one validation run, so every bad key is reported, not only the first."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        """One problem: the full config key, then what is wrong with its value and how to fix it."""
        self.items.append(f"{key}: {message}")

    def under(self, key: str) -> bool:
        """True when a problem names ``key`` or a key inside it."""
        return any(item.startswith((f"{key}:", f"{key}.", f"{key}[")) for item in self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise SettingsError(self.items)
