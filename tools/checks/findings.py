"""One way for every check to say what it found: a list of `where: what` lines, printed with a
one-line verdict, and an exit status (0 clean, 1 findings)."""

from dataclasses import dataclass, field


@dataclass
class Findings:
    """The problems one check found, in the order it found them."""

    check: str
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def report(self) -> int:
        """Prints the findings and the verdict; returns the exit status."""
        for line in self.problems:
            print(line)
        detail = f" ({self.summary})" if self.summary else ""
        if self.problems:
            print(f"{self.check}: FAILED, {len(self.problems)} problem(s){detail}")
            return 1
        print(f"{self.check}: passed{detail}")
        return 0
