"""``querygym play``: type actions by hand at a prompt.

Anything that is not a ``:command`` is read as an action; text that is neither an action nor a
command is explained and does not use up a step.  The prompt's own commands:

    :help      these commands
    :actions   every action with its parameters (rendered from actions.yaml)
    :history   the actions of this episode with their results and rewards
    :reset     start the current task again
    :next      go on to the next task of the dataset
    :quit      leave (also :q, :exit, or end of input)

When an episode ends (solved, ended on a wrong answer, or out of steps), a summary is shown and,
unless it was solved, the gold SQL with the first rows of the answer; the prompt then takes
``:reset``, ``:next`` or ``:quit``.
"""

from __future__ import annotations

import argparse
from typing import Callable

from querygym.cli.common import dataset_args, env_args, load_tasks, plain
from querygym.env.environment import QueryGymEnv
from querygym.env.render import format_table
from querygym.errors import InvalidActionError

COMMANDS_HELP = plain(__doc__.split("The prompt's own commands:\n\n", 1)[1].split("\n\n", 1)[0])
ANSWER_ROWS = 10


def register(subparsers) -> None:
    """Add ``querygym play`` to the command line."""
    play = subparsers.add_parser("play", help="type actions by hand",
                                 description="Type actions by hand at a prompt; :help lists the prompt's commands.")
    dataset_args(play)
    env_args(play)
    play.add_argument("--seed", type=int, help="seed for picking a task")
    play.set_defaults(func=cmd_play)


class PlaySession:
    """One person at the prompt: the environment, the current task, and the episode's history."""

    def __init__(self, env: QueryGymEnv, write: Callable[[str], None] = print):
        self.env = env
        self.write = write
        self.task_ids = list(env.tasks.ids)
        self.history: list[tuple[str, str, float, str]] = []
        self.over = False
        self.task_id = None

    def start(self, task_id=None, seed: int | None = None) -> None:
        """Begin an episode on ``task_id`` (a seeded random task when None)."""
        obs, info = self.env.reset(seed=seed, options={"task_id": task_id} if task_id is not None else None)
        self.task_id, self.history, self.over = info["task_id"], [], False
        self.write(f"Task {info['task_id']} on {info['db_id']}\n{obs}\n")
        self.write('Type an action such as ["get_tables"]; :help lists the prompt\'s commands.')

    def handle(self, line: str) -> bool:
        """Act on one line; False when the person asked to leave."""
        line = line.strip()
        if not line:
            return True
        if line.startswith(":"):
            return self._command(line)
        if self.over:
            self.write("The episode is over: :reset plays it again, :next goes on, :quit leaves.")
            return True
        try:
            self.env.catalog.parse(line)
        except InvalidActionError as exc:  # not an action: say why, spend no step
            self.write(f"Not an action ({exc}). No step was used; :help lists the prompt's commands.")
            return True
        obs, reward, terminated, truncated, info = self.env.step(line)
        result = info.get("cte_id") or info["kind"]
        if info.get("relation"):
            result += f" ({info['relation']})"
        self.history.append((line, result, reward, info["kind"]))
        self.write(f"\n[{info['kind']}] reward {reward:g}\n{obs}\n")
        if terminated or truncated:
            self._finish(info, truncated)
        return True

    def _command(self, line: str) -> bool:
        word = line.split()[0].lower()
        if word in (":q", ":quit", ":exit"):
            return False
        if word == ":help":
            self.write(COMMANDS_HELP)
        elif word == ":actions":
            self.write(self.env.catalog.render_help())
        elif word == ":history":
            self.write("\n".join(f"{i}: {action} -> {result}, reward {reward:g}"
                                 for i, (action, result, reward, _) in enumerate(self.history, 1))
                       or "(no actions yet)")
        elif word == ":reset":
            self.start(self.task_id)
        elif word == ":next":
            position = self.task_ids.index(self.task_id) if self.task_id in self.task_ids else -1
            if position + 1 >= len(self.task_ids):
                self.write("That was the last task; :reset plays it again, :quit leaves.")
            else:
                self.start(self.task_ids[position + 1])
        else:
            self.write(f"Unknown command {word}; :help lists the prompt's commands.")
        return True

    def _finish(self, info: dict, truncated: bool) -> None:
        self.over = True
        reward = sum(r for _, _, r, _ in self.history)
        verdict = "Solved!" if info.get("solved") else ("Out of steps." if truncated else "Ended on a wrong answer.")
        self.write(f"{verdict} {len(self.history)} step(s), total reward {reward:g}.")
        if not info.get("solved"):
            task = self.env.task
            target = task.target_result()
            self.write(f"The gold SQL:\n{task.gold_sql.strip()}\nIts answer ({len(target.rows)} row(s)):\n"
                       f"{format_table(target.columns, target.rows[:ANSWER_ROWS])}")
        self.write(":reset plays this task again, :next goes on, :quit leaves.")


def cmd_play(args: argparse.Namespace) -> int:
    """Run the prompt until the person leaves or the input ends."""
    tasks = load_tasks(args)
    env = QueryGymEnv(tasks, dialect=args.dialect, max_steps=args.max_steps, timeout_s=args.timeout)
    try:
        import readline  # noqa: F401  (line editing and history at the prompt)
    except ImportError:
        pass
    session = PlaySession(env)
    try:
        session.start(args.task[0] if args.task else None, seed=args.seed)
        while True:
            try:
                line = input("action> ")
            except EOFError:
                break
            if not session.handle(line):
                break
    finally:
        env.close()
    return 0
